package main

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dsschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/function"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	providerschema "github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

type peerProvider struct{}

func newPeerProvider() provider.Provider { return &peerProvider{} }

var (
	_ provider.Provider              = (*peerProvider)(nil)
	_ provider.ProviderWithFunctions = (*peerProvider)(nil)
)

func (p *peerProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "peer"
	resp.Version = "0.0.0-bench"
}

func (p *peerProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	attrs := map[string]providerschema.Attribute{}
	for _, a := range providerSpec {
		attrs[a.name] = providerAttribute(a, "provider")
	}
	roleAttrs := map[string]providerschema.Attribute{}
	for _, a := range assumeRoleSpec {
		roleAttrs[a.name] = providerAttribute(a, "assume_role block")
	}
	resp.Schema = providerschema.Schema{
		Description: "A benchmark fixture shaped like terraform-provider-maestro's provider configuration.",
		Attributes:  attrs,
		Blocks: map[string]providerschema.Block{
			"assume_role": providerschema.SingleNestedBlock{Description: "The role to assume.", Attributes: roleAttrs},
		},
	}
}

func (p *peerProvider) Configure(context.Context, provider.ConfigureRequest, *provider.ConfigureResponse) {
}

func (p *peerProvider) Resources(context.Context) []func() resource.Resource {
	var out []func() resource.Resource
	for _, spec := range resourceSpecs {
		r := &peerResource{typeSuffix: spec.name, attrs: spec.attrs}
		out = append(out, func() resource.Resource { return r })
	}
	return out
}

func (p *peerProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{func() datasource.DataSource { return &peerDataSource{} }}
}

func (p *peerProvider) Functions(context.Context) []func() function.Function {
	return []func() function.Function{func() function.Function { return &clientIDFunction{} }}
}

func providerAttribute(a attrSpec, owner string) providerschema.Attribute {
	d, opt, sens := a.description(owner), true, a.sensitive
	switch a.kind {
	case kindBool:
		return providerschema.BoolAttribute{Description: d, Optional: opt, Sensitive: sens}
	case kindInt64:
		return providerschema.Int64Attribute{Description: d, Optional: opt, Sensitive: sens}
	case kindStringMap:
		return providerschema.MapAttribute{Description: d, Optional: opt, Sensitive: sens, ElementType: types.StringType}
	case kindStringList:
		return providerschema.ListAttribute{Description: d, Optional: opt, Sensitive: sens, ElementType: types.StringType}
	default:
		return providerschema.StringAttribute{Description: d, Optional: opt, Sensitive: sens}
	}
}

func resourceAttribute(a attrSpec, owner string) schema.Attribute {
	d, sens := a.description(owner), a.sensitive
	req := a.role == required
	opt := a.role == optional || a.role == optionalComputed
	comp := a.role == computed || a.role == optionalComputed
	switch a.kind {
	case kindBool:
		return schema.BoolAttribute{Description: d, Required: req, Optional: opt, Computed: comp, Sensitive: sens}
	case kindInt64:
		return schema.Int64Attribute{Description: d, Required: req, Optional: opt, Computed: comp, Sensitive: sens}
	case kindStringMap:
		return schema.MapAttribute{Description: d, Required: req, Optional: opt, Computed: comp, Sensitive: sens, ElementType: types.StringType}
	case kindStringList:
		return schema.ListAttribute{Description: d, Required: req, Optional: opt, Computed: comp, Sensitive: sens, ElementType: types.StringType}
	default:
		var mods []planmodifier.String
		if a.forceNew {
			mods = append(mods, stringplanmodifier.RequiresReplace())
		}
		if a.keepState {
			mods = append(mods, stringplanmodifier.UseStateForUnknown())
		}
		return schema.StringAttribute{Description: d, Required: req, Optional: opt, Computed: comp, Sensitive: sens, PlanModifiers: mods}
	}
}

func dataSourceAttribute(a attrSpec, owner string) dsschema.Attribute {
	d := a.description(owner)
	return dsschema.StringAttribute{Description: d, Required: a.role == required, Optional: a.role == optional, Computed: a.role == computed}
}
