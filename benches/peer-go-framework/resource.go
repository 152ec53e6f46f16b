package main

import (
	"context"
	"math/big"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dsschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/function"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// peerResource is one fixture resource type; its behaviour is the same for every spec.
type peerResource struct {
	typeSuffix string
	attrs      []attrSpec
}

func (r *peerResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + r.typeSuffix
}

func (r *peerResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	attrs := map[string]schema.Attribute{}
	for _, a := range r.attrs {
		attrs[a.name] = resourceAttribute(a, r.typeSuffix)
	}
	resp.Schema = schema.Schema{Description: "A fixture resource sized like maestro_" + r.typeSuffix + ".", Attributes: attrs}
}

func (r *peerResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	resp.State = stateFromPlan(req.Plan, resp.State, &resp.Diagnostics)
}

func (r *peerResource) Read(context.Context, resource.ReadRequest, *resource.ReadResponse) {}

func (r *peerResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	resp.State = stateFromPlan(req.Plan, resp.State, &resp.Diagnostics)
}

func (r *peerResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}

// stateFromPlan stores the plan with every value still unknown replaced by a placeholder, which
// is all a fixture that owns no remote object can do.
func stateFromPlan(plan tfsdk.Plan, state tfsdk.State, diags interface{ AddError(string, string) }) tfsdk.State {
	raw, err := tftypes.Transform(plan.Raw, func(_ *tftypes.AttributePath, v tftypes.Value) (tftypes.Value, error) {
		if v.IsKnown() {
			return v, nil
		}
		switch {
		case v.Type().Is(tftypes.String):
			return tftypes.NewValue(tftypes.String, "peer"), nil
		case v.Type().Is(tftypes.Bool):
			return tftypes.NewValue(tftypes.Bool, false), nil
		case v.Type().Is(tftypes.Number):
			return tftypes.NewValue(tftypes.Number, big.NewFloat(0)), nil
		default:
			return tftypes.NewValue(v.Type(), nil), nil
		}
	})
	if err != nil {
		diags.AddError("cannot fill in the plan", err.Error())
		return state
	}
	state.Raw = raw
	return state
}

// peerDataSource mirrors maestro_agent_binding's size.
type peerDataSource struct{}

func (d *peerDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_agent_binding"
}

func (d *peerDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	attrs := map[string]dsschema.Attribute{}
	for _, a := range dataSourceSpec {
		attrs[a.name] = dataSourceAttribute(a, "data source")
	}
	resp.Schema = dsschema.Schema{Description: "A fixture data source sized like maestro_agent_binding.", Attributes: attrs}
}

func (d *peerDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	resp.State.Raw = req.Config.Raw
}

// clientIDFunction mirrors the Maestro provider's mqtt_client_id function.
type clientIDFunction struct{}

func (f *clientIDFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "mqtt_client_id"
}

func (f *clientIDFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary:     "The MQTT client ID an agent connects with.",
		Description: "Returns `<consumer_id>-work-agent-client`, the client ID a Maestro agent sends to IoT Core.",
		Parameters:  []function.Parameter{function.StringParameter{Name: "consumer_id", Description: "The consumer's name."}},
		Return:      function.StringReturn{},
	}
}

func (f *clientIDFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var consumer string
	resp.Error = req.Arguments.Get(ctx, &consumer)
	if resp.Error == nil {
		resp.Error = resp.Result.Set(ctx, consumer+"-work-agent-client")
	}
}
