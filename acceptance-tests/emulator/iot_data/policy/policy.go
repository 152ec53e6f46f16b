// Package policy evaluates AWS IoT Core policy documents the way IoT Core authorises the MQTT
// operations of a certificate: every statement of every attached policy counts, an explicit
// Deny beats any Allow, and whatever nothing allows is denied.
//
// Matching follows IAM: '*' matches any run of characters (the '/' of topic levels included),
// '?' exactly one, and the MQTT wildcards '+' and '#' are ordinary characters. Action names are
// case-insensitive, resources are not.
//
// What it does not implement it handles so that access is never wider than IoT Core would
// grant: an Allow statement it cannot fully evaluate is ignored, a Deny statement it cannot
// fully evaluate is applied as broadly as it could possibly apply.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Policy variables the broker resolves (names as written inside "${...}").
const (
	VarClientID  = "iot:ClientId"
	VarThingName = "iot:Connection.Thing.ThingName"
)

var supportedVars = map[string]bool{VarClientID: true, VarThingName: true}

// variablesVersion is the only policy language version in which "${...}" is a variable; in
// older documents (or without a Version) IAM treats it as literal text.
const variablesVersion = "2012-10-17"

// Decision is the outcome of an evaluation.
type Decision int

const (
	ImplicitDeny Decision = iota // no statement allows the request
	Allow
	ExplicitDeny // a Deny statement applies, whatever else allows it
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "allow"
	case ExplicitDeny:
		return "explicit deny"
	default:
		return "implicit deny"
	}
}

// Request is one authorisation question: may Action be done on Resource?
type Request struct {
	Action   string // e.g. "iot:Publish"
	Resource string // the full ARN, e.g. "arn:aws:iot:us-east-1:123456789012:topic/a/b"
	// Vars holds the policy variables that have a value for this request.
	Vars map[string]string
	// Absent names variables IoT Core defines but which have no value for this request; a
	// statement whose resources need one cannot apply.
	Absent map[string]bool
}

// Document is a parsed policy document.
type Document struct {
	statements []statement
	// Warnings describe parts of the document this evaluator does not implement, and how
	// they were treated, so that the caller can log them.
	Warnings []string
}

const (
	effectAllow = "Allow"
	effectDeny  = "Deny"
)

type statement struct {
	deny bool
	// Exactly one of actions / notActions is used, as flagged by notAction; likewise for
	// resources.
	actions      []pattern
	notAction    bool
	resources    []string // compiled per request: they may contain variables
	notResource  bool
	hasCondition bool
	variables    bool // whether "${...}" is substituted (document Version 2012-10-17)
}

// stringList is a policy element that may be written as one string or a list of strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = stringList{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("expected a string or a list of strings")
	}
	*l = list
	return nil
}

type rawStatement struct {
	Effect      string          `json:"Effect"`
	Action      *stringList     `json:"Action"`
	NotAction   *stringList     `json:"NotAction"`
	Resource    *stringList     `json:"Resource"`
	NotResource *stringList     `json:"NotResource"`
	Condition   json.RawMessage `json:"Condition"`
}

type rawDocument struct {
	Version   string          `json:"Version"`
	Statement json.RawMessage `json:"Statement"`
}

// Parse reads a policy document (the JSON text IoT stores for a policy version).
func Parse(text string) (*Document, error) {
	var raw rawDocument
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("policy document is not valid JSON: %w", err)
	}
	var list []rawStatement
	body := bytes.TrimSpace(raw.Statement)
	switch {
	case len(body) == 0:
		return nil, errors.New("policy document has no Statement")
	case body[0] == '{':
		var one rawStatement
		if err := json.Unmarshal(body, &one); err != nil {
			return nil, fmt.Errorf("statement: %w", err)
		}
		list = []rawStatement{one}
	default:
		if err := json.Unmarshal(body, &list); err != nil {
			return nil, fmt.Errorf("statements: %w", err)
		}
	}

	doc := &Document{}
	variables := raw.Version == variablesVersion
	for i, rs := range list {
		st, warnings, err := newStatement(rs, variables)
		for _, w := range warnings {
			doc.Warnings = append(doc.Warnings, fmt.Sprintf("statement %d: %s", i, w))
		}
		if err != nil {
			// IoT rejects such a document at CreatePolicy; the emulator's control plane may
			// not, so the statement is dropped rather than guessed at.
			doc.Warnings = append(doc.Warnings, fmt.Sprintf("statement %d ignored: %v", i, err))
			continue
		}
		doc.statements = append(doc.statements, st)
	}
	return doc, nil
}

func newStatement(rs rawStatement, variables bool) (statement, []string, error) {
	var warnings []string
	st := statement{variables: variables}
	switch rs.Effect {
	case effectAllow:
	case effectDeny:
		st.deny = true
	default:
		return st, nil, fmt.Errorf("the Effect %q is neither Allow nor Deny", rs.Effect)
	}

	switch {
	case (rs.Action == nil) == (rs.NotAction == nil):
		return st, nil, errors.New("it needs exactly one of Action and NotAction")
	case rs.NotAction != nil:
		st.notAction = true
		st.actions = compileActions(*rs.NotAction)
	default:
		st.actions = compileActions(*rs.Action)
	}

	switch {
	case (rs.Resource == nil) == (rs.NotResource == nil):
		return st, nil, errors.New("it needs exactly one of Resource and NotResource")
	case rs.NotResource != nil:
		st.notResource = true
		st.resources = *rs.NotResource
	default:
		st.resources = *rs.Resource
	}

	if c := bytes.TrimSpace(rs.Condition); len(c) > 0 && !bytes.Equal(c, []byte("null")) {
		st.hasCondition = true
		if st.deny {
			warnings = append(warnings, "Condition is not evaluated; this Deny applies as if it held")
		} else {
			warnings = append(warnings, "Condition is not evaluated; this Allow is ignored")
		}
	}
	if variables {
		for _, r := range st.resources {
			for _, name := range variableNames(r) {
				if !supportedVars[name] {
					warnings = append(warnings, fmt.Sprintf("policy variable ${%s} is not supported (an Allow needing it is ignored, a Deny treats it as '*')", name))
				}
			}
		}
	}
	return st, warnings, nil
}

func compileActions(values []string) []pattern {
	out := make([]pattern, 0, len(values))
	for _, v := range values {
		// IAM has no variables in actions, so only '*' and '?' are special.
		out = append(out, compileGlob(strings.ToLower(v)))
	}
	return out
}

// compileGlob compiles a value in which only '*' and '?' are special.
func compileGlob(value string) pattern {
	p := make(pattern, 0, len(value))
	for _, r := range value {
		switch r {
		case '*':
			p = append(p, token{kind: anyRun})
		case '?':
			p = append(p, token{kind: anyOne})
		default:
			p = append(p, token{kind: literal, r: r})
		}
	}
	return p
}

// variableNames lists the "${name}" references of a value, IAM's escapes excluded.
func variableNames(value string) []string {
	var names []string
	for {
		start := strings.Index(value, "${")
		if start < 0 {
			return names
		}
		end := strings.IndexByte(value[start:], '}')
		if end < 0 {
			return names
		}
		if name := value[start+2 : start+end]; name != "*" && name != "?" && name != "$" {
			names = append(names, name)
		}
		value = value[start+end+1:]
	}
}

// Evaluate decides req against the union of docs.
func Evaluate(docs []*Document, req Request) Decision {
	decision := ImplicitDeny
	for _, d := range docs {
		if d == nil {
			continue
		}
		for i := range d.statements {
			st := &d.statements[i]
			if !st.applies(&req) {
				continue
			}
			if st.deny {
				return ExplicitDeny
			}
			decision = Allow
		}
	}
	return decision
}

func (st *statement) applies(req *Request) bool {
	if st.hasCondition && !st.deny {
		return false
	}
	return st.actionApplies(strings.ToLower(req.Action)) && st.resourceApplies(req)
}

func (st *statement) actionApplies(action string) bool {
	hit := false
	for _, p := range st.actions {
		if p.matches(action) {
			hit = true
			break
		}
	}
	return hit != st.notAction
}

func (st *statement) resourceApplies(req *Request) bool {
	patterns := make([]pattern, 0, len(st.resources))
	for _, value := range st.resources {
		if !st.variables {
			patterns = append(patterns, compileGlob(value))
			continue
		}
		// In a Resource list a Deny reads an unknown variable as '*' (it then denies at least
		// what IoT Core would); in a NotResource list the widest Deny comes from dropping the
		// entry (it then excludes less), so unknown entries are left out there.
		p, state := compile(value, req, st.deny && !st.notResource)
		switch state {
		case absent:
			return false
		case unknown:
			if !st.deny {
				return false
			}
			continue
		}
		patterns = append(patterns, p)
	}
	hit := false
	for _, p := range patterns {
		if p.matches(req.Resource) {
			hit = true
			break
		}
	}
	return hit != st.notResource
}
