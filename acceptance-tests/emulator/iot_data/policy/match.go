package policy

import (
	"strings"
	"unicode/utf8"
)

// A pattern is a policy Action or Resource value with its policy variables already substituted.
// Substituted values are literal text: a client ID of "a*" must not become a wildcard, so the
// pattern is kept as tokens rather than as a string with wildcard characters in it.
type pattern []token

type tokenKind uint8

const (
	literal tokenKind = iota
	anyRun            // '*': any run of characters, '/' included (IAM has no notion of levels)
	anyOne            // '?': exactly one character
)

type token struct {
	kind tokenKind
	r    rune
}

// varState says whether every policy variable of a pattern could be substituted.
type varState uint8

const (
	resolved varState = iota
	// absent: a variable IoT Core defines but which has no value for this request (for
	// example ${iot:Connection.Thing.ThingName} when no thing of the client ID's name is
	// attached to the certificate). IoT Core does not substitute it, so nothing matches.
	absent
	// unknown: a variable this evaluator does not implement. Its real value is unknown, so
	// the caller decides how to stay on the safe side.
	unknown
)

// compile turns a policy value into tokens. Variables are looked up in req; an unknown
// variable becomes '*' when unknownAsWildcard is set (the caller uses that for Deny
// statements, where matching too much only denies more) and otherwise makes the pattern
// report unknown.
func compile(value string, req *Request, unknownAsWildcard bool) (pattern, varState) {
	var out pattern
	state := resolved
	for i := 0; i < len(value); {
		if strings.HasPrefix(value[i:], "${") {
			end := strings.IndexByte(value[i:], '}')
			if end > 0 {
				name := value[i+2 : i+end]
				i += end + 1
				switch name {
				// IAM's escapes for characters that would otherwise be wildcards or start a variable.
				case "*", "?", "$":
					out = append(out, token{literal, rune(name[0])})
					continue
				}
				if v, ok := req.Vars[name]; ok {
					for _, r := range v {
						out = append(out, token{literal, r})
					}
					continue
				}
				if req.Absent[name] {
					state = worse(state, absent)
					continue
				}
				if unknownAsWildcard {
					out = append(out, token{kind: anyRun})
				} else {
					state = worse(state, unknown)
				}
				continue
			}
			// An unterminated "${" is ordinary text, as in IAM.
		}
		r, size := utf8.DecodeRuneInString(value[i:])
		i += size
		switch r {
		case '*':
			out = append(out, token{kind: anyRun})
		case '?':
			out = append(out, token{kind: anyOne})
		default:
			out = append(out, token{literal, r})
		}
	}
	return out, state
}

func worse(a, b varState) varState {
	if b > a {
		return b
	}
	return a
}

// matches reports whether the whole of s matches p. '*' may match the empty string.
func (p pattern) matches(s string) bool {
	subject := []rune(s)
	pi, si := 0, 0
	// Position of the last '*' seen and of the subject character it currently ends before,
	// so a failed literal match can retry with that '*' swallowing one more character.
	star, starSubject := -1, 0
	for si < len(subject) {
		if pi < len(p) {
			switch t := p[pi]; {
			case t.kind == anyRun:
				star, starSubject = pi, si
				pi++
				continue
			case t.kind == anyOne || t.r == subject[si]:
				pi++
				si++
				continue
			}
		}
		if star < 0 {
			return false
		}
		starSubject++
		pi, si = star+1, starSubject
	}
	for pi < len(p) && p[pi].kind == anyRun {
		pi++
	}
	return pi == len(p)
}
