package policy

import (
	"strings"
	"testing"
)

const arn = "arn:aws:iot:us-east-1:123456789012:"

func mustParse(t *testing.T, text string) *Document {
	t.Helper()
	d, err := Parse(text)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

func req(action, resource string) Request {
	return Request{Action: action, Resource: arn + resource, Vars: map[string]string{VarClientID: "dev-1"}}
}

func TestGlobMatching(t *testing.T) {
	cases := []struct {
		pattern, subject string
		want             bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/bc", false},
		{"a/*", "a/b/c/d", true}, // '*' crosses topic levels
		{"a/*", "a/", true},      // and may be empty
		{"a/*/d", "a/b/c/d", true},
		{"a/*/d", "a/b/c/e", false},
		{"a/?", "a/b", true},
		{"a/?", "a/bc", false},
		{"a/?", "a/", false},
		{"a/?/c", "a/é/c", true}, // one character, not one byte
		{"a/+", "a/+", true},     // MQTT wildcards are literal in policies
		{"a/+", "a/b", false},
		{"a/#", "a/b/c", false},
		{"a/#", "a/#", true},
		{"*", "", true},
		{"*a*b*", "xxaxxbxx", true},
		{"*a*b*", "xxbxxaxx", false},
		{"a*a*a", "aaaa", true},
		{"", "", true},
		{"", "a", false},
	}
	for _, c := range cases {
		if got := compileGlob(c.pattern).matches(c.subject); got != c.want {
			t.Errorf("%q matches %q = %v, want %v", c.pattern, c.subject, got, c.want)
		}
	}
}

func TestDefaultDenyAndAllow(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Publish","Resource":"`+arn+`topic/a/b"}]}`)
	if got := Evaluate([]*Document{d}, req("iot:Publish", "topic/a/b")); got != Allow {
		t.Errorf("granted publish = %v", got)
	}
	if got := Evaluate([]*Document{d}, req("iot:Publish", "topic/a/c")); got != ImplicitDeny {
		t.Errorf("other topic = %v", got)
	}
	if got := Evaluate([]*Document{d}, req("iot:Receive", "topic/a/b")); got != ImplicitDeny {
		t.Errorf("other action = %v", got)
	}
	if got := Evaluate(nil, req("iot:Connect", "client/dev-1")); got != ImplicitDeny {
		t.Errorf("no policy = %v", got)
	}
}

func TestSingleStatementObjectAndStringOrListElements(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":
		{"Effect":"Allow","Action":["iot:Subscribe","iot:Receive"],"Resource":["`+arn+`topicfilter/x","`+arn+`topic/x"]}}`)
	for _, r := range []Request{req("iot:Subscribe", "topicfilter/x"), req("iot:Receive", "topic/x")} {
		if got := Evaluate([]*Document{d}, r); got != Allow {
			t.Errorf("%s %s = %v", r.Action, r.Resource, got)
		}
	}
	// The resource type is part of the ARN: a topicfilter grant is no topic grant.
	sub := mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:*","Resource":"`+arn+`topicfilter/x"}}`)
	if got := Evaluate([]*Document{sub}, req("iot:Receive", "topic/x")); got != ImplicitDeny {
		t.Errorf("receive on topic/x = %v", got)
	}
}

func TestActionWildcardsAndCase(t *testing.T) {
	for _, action := range []string{"iot:*", "*", "iot:Pub*", "IOT:PUBLISH", "iot:Publis?"} {
		d := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"`+action+`","Resource":"*"}]}`)
		if got := Evaluate([]*Document{d}, req("iot:Publish", "topic/t")); got != Allow {
			t.Errorf("action %q: %v", action, got)
		}
	}
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Pub*","Resource":"*"}]}`)
	if got := Evaluate([]*Document{d}, req("iot:Subscribe", "topicfilter/t")); got != ImplicitDeny {
		t.Errorf("iot:Pub* allowed Subscribe: %v", got)
	}
}

func TestResourcesAreCaseSensitive(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"`+arn+`topic/Abc"}]}`)
	if got := Evaluate([]*Document{d}, req("iot:Publish", "topic/abc")); got != ImplicitDeny {
		t.Errorf("case-folded resource matched: %v", got)
	}
}

func TestExplicitDenyWinsAcrossPolicies(t *testing.T) {
	allow := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}`)
	deny := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iot:Publish","Resource":"`+arn+`topic/secret/*"}]}`)
	docs := []*Document{allow, deny}
	if got := Evaluate(docs, req("iot:Publish", "topic/secret/x")); got != ExplicitDeny {
		t.Errorf("denied topic = %v", got)
	}
	if got := Evaluate(docs, req("iot:Publish", "topic/open/x")); got != Allow {
		t.Errorf("other topic = %v", got)
	}
	// Order does not matter.
	if got := Evaluate([]*Document{deny, allow}, req("iot:Publish", "topic/secret/x")); got != ExplicitDeny {
		t.Errorf("deny first = %v", got)
	}
}

func TestClientIDVariableIsLiteral(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":"`+arn+`client/${iot:ClientId}"},
		{"Effect":"Allow","Action":"iot:Publish","Resource":"`+arn+`topic/devices/${iot:ClientId}/*"}]}`)
	r := req("iot:Connect", "client/dev-1")
	if got := Evaluate([]*Document{d}, r); got != Allow {
		t.Errorf("own client id = %v", got)
	}
	if got := Evaluate([]*Document{d}, req("iot:Publish", "topic/devices/dev-2/x")); got != ImplicitDeny {
		t.Errorf("another client's topic = %v", got)
	}
	// A client ID with wildcard characters in it only matches itself.
	wild := Request{Action: "iot:Publish", Resource: arn + "topic/devices/abc/x", Vars: map[string]string{VarClientID: "*"}}
	if got := Evaluate([]*Document{d}, wild); got != ImplicitDeny {
		t.Errorf("client id '*' acted as a wildcard: %v", got)
	}
	wild.Resource = arn + "topic/devices/*/x"
	if got := Evaluate([]*Document{d}, wild); got != Allow {
		t.Errorf("client id '*' on its own topic = %v", got)
	}
}

func TestThingNameVariable(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":"`+arn+`client/${iot:Connection.Thing.ThingName}"}]}`)
	attached := Request{Action: "iot:Connect", Resource: arn + "client/thing-1",
		Vars: map[string]string{VarClientID: "thing-1", VarThingName: "thing-1"}}
	if got := Evaluate([]*Document{d}, attached); got != Allow {
		t.Errorf("attached thing = %v", got)
	}
	notAttached := Request{Action: "iot:Connect", Resource: arn + "client/thing-1",
		Vars: map[string]string{VarClientID: "thing-1"}, Absent: map[string]bool{VarThingName: true}}
	if got := Evaluate([]*Document{d}, notAttached); got != ImplicitDeny {
		t.Errorf("no attached thing = %v", got)
	}
	// The statement that needs the absent value does not apply at all, even through another
	// entry of its Resource list; other statements still do.
	d2 := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":["`+arn+`client/${iot:Connection.Thing.ThingName}","`+arn+`client/thing-*"]},
		{"Effect":"Allow","Action":"iot:Publish","Resource":"*"}]}`)
	if got := Evaluate([]*Document{d2}, notAttached); got != ImplicitDeny {
		t.Errorf("statement with an absent variable applied: %v", got)
	}
	notAttached.Action, notAttached.Resource = "iot:Publish", arn+"topic/x"
	if got := Evaluate([]*Document{d2}, notAttached); got != Allow {
		t.Errorf("unrelated statement = %v", got)
	}
	// Nor does a Deny that needs it.
	deny := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
		{"Effect":"Deny","Action":"iot:Connect","Resource":"`+arn+`client/${iot:Connection.Thing.ThingName}"}]}`)
	notAttached.Action, notAttached.Resource = "iot:Connect", arn+"client/thing-1"
	if got := Evaluate([]*Document{deny}, notAttached); got != Allow {
		t.Errorf("deny with an absent variable = %v", got)
	}
	attached.Resource = arn + "client/thing-1"
	if got := Evaluate([]*Document{deny}, attached); got != ExplicitDeny {
		t.Errorf("deny with the thing attached = %v", got)
	}
}

func TestEscapesAndOldVersionsAreLiteral(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"`+arn+`topic/a${*}b${?}"}]}`)
	if got := Evaluate([]*Document{d}, req("iot:Publish", "topic/a*b?")); got != Allow {
		t.Errorf("escaped wildcards = %v", got)
	}
	if got := Evaluate([]*Document{d}, req("iot:Publish", "topic/axxbz")); got != ImplicitDeny {
		t.Errorf("escaped '*' acted as a wildcard: %v", got)
	}
	// Before 2012-10-17 "${...}" is plain text (and its '?' still a wildcard).
	old := mustParse(t, `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"`+arn+`client/${iot:ClientId}"}]}`)
	if got := Evaluate([]*Document{old}, req("iot:Connect", "client/dev-1")); got != ImplicitDeny {
		t.Errorf("variable substituted in an old document: %v", got)
	}
	if got := Evaluate([]*Document{old}, req("iot:Connect", "client/${iot:ClientId}")); got != Allow {
		t.Errorf("literal text in an old document = %v", got)
	}
}

func TestUnsupportedVariablesNeverWiden(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Publish","Resource":"`+arn+`topic/${iot:Connection.Thing.ThingTypeName}/x"}]}`)
	if len(d.Warnings) == 0 {
		t.Error("no warning for an unsupported variable")
	}
	if got := Evaluate([]*Document{d}, req("iot:Publish", "topic/anything/x")); got != ImplicitDeny {
		t.Errorf("Allow with an unknown variable = %v", got)
	}
	deny := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Publish","Resource":"*"},
		{"Effect":"Deny","Action":"iot:Publish","Resource":"`+arn+`topic/${iot:Connection.Thing.ThingTypeName}/x"}]}`)
	if got := Evaluate([]*Document{deny}, req("iot:Publish", "topic/anything/x")); got != ExplicitDeny {
		t.Errorf("Deny with an unknown variable = %v", got)
	}
	if got := Evaluate([]*Document{deny}, req("iot:Publish", "topic/anything/y")); got != Allow {
		t.Errorf("Deny with an unknown variable denied an unrelated topic: %v", got)
	}
}

func TestNotActionAndNotResource(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","NotAction":"iot:Publish","Resource":"*"},
		{"Effect":"Allow","Action":"iot:Publish","NotResource":"`+arn+`topic/private/*"}]}`)
	if got := Evaluate([]*Document{d}, req("iot:Subscribe", "topicfilter/x")); got != Allow {
		t.Errorf("NotAction covers Subscribe: %v", got)
	}
	if got := Evaluate([]*Document{d}, req("iot:Publish", "topic/public/x")); got != Allow {
		t.Errorf("NotResource outside the exclusion: %v", got)
	}
	if got := Evaluate([]*Document{d}, req("iot:Publish", "topic/private/x")); got != ImplicitDeny {
		t.Errorf("NotResource inside the exclusion: %v", got)
	}
	deny := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:*","Resource":"*"},
		{"Effect":"Deny","Action":"iot:Publish","NotResource":"`+arn+`topic/allowed/*"}]}`)
	if got := Evaluate([]*Document{deny}, req("iot:Publish", "topic/other")); got != ExplicitDeny {
		t.Errorf("Deny NotResource = %v", got)
	}
	if got := Evaluate([]*Document{deny}, req("iot:Publish", "topic/allowed/x")); got != Allow {
		t.Errorf("Deny NotResource excluded topic = %v", got)
	}
}

func TestConditionsNeverWiden(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}}]}`)
	if len(d.Warnings) == 0 {
		t.Error("no warning for a Condition")
	}
	if got := Evaluate([]*Document{d}, req("iot:Connect", "client/dev-1")); got != ImplicitDeny {
		t.Errorf("Allow with a Condition = %v", got)
	}
	deny := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
		{"Effect":"Deny","Action":"iot:Connect","Resource":"*","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"false"}}}]}`)
	if got := Evaluate([]*Document{deny}, req("iot:Connect", "client/dev-1")); got != ExplicitDeny {
		t.Errorf("Deny with a Condition = %v", got)
	}
}

func TestInvalidDocumentsAndStatements(t *testing.T) {
	for _, text := range []string{`not json`, `{"Version":"2012-10-17"}`, `{"Statement":"x"}`} {
		if _, err := Parse(text); err == nil {
			t.Errorf("Parse(%q) succeeded", text)
		}
	}
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"allow","Action":"iot:*","Resource":"*"},
		{"Effect":"Allow","Resource":"*"},
		{"Effect":"Allow","Action":"iot:*","Resource":"*","NotResource":"x"},
		{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`)
	if len(d.statements) != 1 || len(d.Warnings) != 3 {
		t.Fatalf("statements %d, warnings %q", len(d.statements), d.Warnings)
	}
	if !strings.Contains(d.Warnings[0], "neither Allow nor Deny") {
		t.Errorf("warning %q", d.Warnings[0])
	}
	if got := Evaluate([]*Document{d}, req("iot:Publish", "topic/x")); got != ImplicitDeny {
		t.Errorf("an invalid statement granted access: %v", got)
	}
	if got := Evaluate([]*Document{d}, req("iot:Connect", "client/dev-1")); got != Allow {
		t.Errorf("the valid statement = %v", got)
	}
}

func TestSharedSubscriptionFilterResource(t *testing.T) {
	d := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Subscribe","Resource":"`+arn+`topicfilter/$share/workers/jobs/+"}]}`)
	if got := Evaluate([]*Document{d}, req("iot:Subscribe", "topicfilter/$share/workers/jobs/+")); got != Allow {
		t.Errorf("shared filter = %v", got)
	}
	if got := Evaluate([]*Document{d}, req("iot:Subscribe", "topicfilter/jobs/+")); got != ImplicitDeny {
		t.Errorf("plain filter = %v", got)
	}
}
