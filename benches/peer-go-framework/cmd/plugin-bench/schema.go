package main

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// schemaCounts says what a GetProviderSchema response holds, so the table can show that the
// two plugins answer with schemas of comparable size. Read straight from the wire format
// (tfplugin6.proto field numbers), since the driver decodes no messages while timing.
type schemaCounts struct {
	Bytes              int `json:"bytes"`
	Resources          int `json:"resources"`
	ResourceAttributes int `json:"resource_attributes"`
	DataSources        int `json:"data_sources"`
	Ephemeral          int `json:"ephemeral_resources"`
	Lists              int `json:"list_resources"`
	Actions            int `json:"actions"`
	Functions          int `json:"functions"`
	ProviderAttributes int `json:"provider_attributes"`
	Diagnostics        int `json:"diagnostics"`
}

func (c schemaCounts) diagnosticsNote() string {
	if c.Diagnostics == 0 {
		return ""
	}
	return fmt.Sprintf("; %d DIAGNOSTICS (the schema call reported problems)", c.Diagnostics)
}

// GetProviderSchema.Response field numbers.
const (
	respProvider    = 1
	respResources   = 2
	respDataSources = 3
	respDiagnostics = 4
	respFunctions   = 7
	respEphemeral   = 8
	respLists       = 9
	respActions     = 11
)

func countSchema(msg []byte) schemaCounts {
	c := schemaCounts{Bytes: len(msg)}
	eachField(msg, func(num protowire.Number, value []byte) {
		switch num {
		case respProvider:
			c.ProviderAttributes = schemaAttributes(value)
		case respResources:
			c.Resources++
			c.ResourceAttributes += schemaAttributes(mapValue(value))
		case respDataSources:
			c.DataSources++
		case respDiagnostics:
			c.Diagnostics++
		case respFunctions:
			c.Functions++
		case respEphemeral:
			c.Ephemeral++
		case respLists:
			c.Lists++
		case respActions:
			c.Actions++
		}
	})
	return c
}

// mapValue returns the value (field 2) of a map entry message.
func mapValue(entry []byte) []byte {
	var v []byte
	eachField(entry, func(num protowire.Number, value []byte) {
		if num == 2 {
			v = value
		}
	})
	return v
}

// schemaAttributes counts the attributes of a Schema (block = 2), nested blocks and nested
// attribute types included.
func schemaAttributes(schema []byte) int {
	n := 0
	eachField(schema, func(num protowire.Number, value []byte) {
		if num == 2 {
			n += blockAttributes(value)
		}
	})
	return n
}

// Block: attributes = 2, block_types = 3 (NestedBlock: block = 2).
func blockAttributes(block []byte) int {
	n := 0
	eachField(block, func(num protowire.Number, value []byte) {
		switch num {
		case 2:
			n += 1 + nestedTypeAttributes(value)
		case 3:
			eachField(value, func(num protowire.Number, inner []byte) {
				if num == 2 {
					n += blockAttributes(inner)
				}
			})
		}
	})
	return n
}

// Attribute.nested_type = 10 (Object: attributes = 1).
func nestedTypeAttributes(attr []byte) int {
	n := 0
	eachField(attr, func(num protowire.Number, value []byte) {
		if num == 10 {
			eachField(value, func(num protowire.Number, a []byte) {
				if num == 1 {
					n += 1 + nestedTypeAttributes(a)
				}
			})
		}
	})
	return n
}

// eachField calls fn with every length-delimited field of msg; other wire types are skipped.
func eachField(msg []byte, fn func(protowire.Number, []byte)) {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return
		}
		msg = msg[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				return
			}
			fn(num, v)
			msg = msg[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, msg)
		if m < 0 {
			return
		}
		msg = msg[m:]
	}
}
