//! The msgpack encoding of Terraform values (go-cty's format), driven by the schema type.
//!
//! Unknown values are msgpack extensions: type 0 (wholly unknown) and type 12 (an unknown
//! with refinements such as "not null" or a string prefix). We read both and only ever write
//! type 0 — a refinement we cannot guarantee at apply time is worse than none.

use super::value::{parse_number, Type, Value};
use std::collections::BTreeMap;

const EXT_UNKNOWN: i8 = 0;
const EXT_REFINED_UNKNOWN: i8 = 12;

#[derive(Debug, thiserror::Error)]
#[error("msgpack: {0}")]
pub struct CodecError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, CodecError> {
    Err(CodecError(msg.into()))
}

pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value, ty)?;
    Ok(out)
}

pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    let mut reader = Reader { buf: bytes, pos: 0 };
    let value = reader.value(ty)?;
    if reader.pos != bytes.len() {
        return err(format!("{} trailing bytes", bytes.len() - reader.pos));
    }
    Ok(value)
}

fn write_value(out: &mut Vec<u8>, value: &Value, ty: &Type) -> Result<(), CodecError> {
    use rmp::encode as enc;
    let io = |e: rmp::encode::ValueWriteError| CodecError(e.to_string());
    match value {
        Value::Unknown => {
            enc::write_ext_meta(out, 1, EXT_UNKNOWN).map_err(io)?;
            out.push(0);
            return Ok(());
        }
        Value::Null => {
            enc::write_nil(out).map_err(|e| CodecError(e.to_string()))?;
            return Ok(());
        }
        _ => {}
    }
    match (ty, value) {
        (Type::Dynamic, v) => {
            // Dynamic values carry their concrete type as JSON bytes in front of the value.
            let concrete = Type::infer(v);
            let type_json = serde_json::to_vec(&concrete.to_json()).expect("type JSON serialises");
            enc::write_array_len(out, 2).map_err(io)?;
            enc::write_bin(out, &type_json).map_err(io)?;
            write_value(out, v, &concrete)?;
        }
        (Type::String, Value::String(s)) => enc::write_str(out, s).map_err(io)?,
        (Type::Bool, Value::Bool(b)) => enc::write_bool(out, *b).map_err(|e| CodecError(e.to_string()))?,
        (Type::Number, Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                enc::write_sint(out, i).map_err(io)?;
            } else if let Some(u) = n.as_u64() {
                enc::write_uint(out, u).map_err(io)?;
            } else {
                enc::write_f64(out, n.as_f64().unwrap_or_default()).map_err(io)?;
            }
        }
        (Type::List(e) | Type::Set(e), Value::List(items)) => {
            enc::write_array_len(out, items.len() as u32).map_err(io)?;
            for item in items {
                write_value(out, item, e)?;
            }
        }
        (Type::Tuple(es), Value::List(items)) if es.len() == items.len() => {
            enc::write_array_len(out, items.len() as u32).map_err(io)?;
            for (item, e) in items.iter().zip(es) {
                write_value(out, item, e)?;
            }
        }
        (Type::Map(e), Value::Map(entries)) => {
            enc::write_map_len(out, entries.len() as u32).map_err(io)?;
            for (k, v) in entries {
                enc::write_str(out, k).map_err(io)?;
                write_value(out, v, e)?;
            }
        }
        (Type::Object(attrs), Value::Map(entries)) => {
            // Every attribute of the type must be present, and nothing else.
            if let Some(extra) = entries.keys().find(|k| !attrs.contains_key(*k)) {
                return err(format!("attribute {extra:?} is not in the schema"));
            }
            enc::write_map_len(out, attrs.len() as u32).map_err(io)?;
            for (name, attr_ty) in attrs {
                enc::write_str(out, name).map_err(io)?;
                write_value(out, entries.get(name).unwrap_or(&Value::Null), attr_ty)?;
            }
        }
        (ty, v) => return err(format!("cannot encode {v} as {}", ty.to_json())),
    }
    Ok(())
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.pos + n > self.buf.len() {
            return err("unexpected end of input");
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    fn uint(&mut self, width: usize) -> Result<u64, CodecError> {
        Ok(self.take(width)?.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn peek(&self) -> Result<u8, CodecError> {
        self.buf.get(self.pos).copied().ok_or(CodecError("unexpected end of input".into()))
    }

    /// Reads an extension (header and payload) if one is next; returns its type code.
    fn ext(&mut self) -> Result<Option<i8>, CodecError> {
        let (header, len) = match self.peek()? {
            0xd4 => (1, 1),
            0xd5 => (1, 2),
            0xd6 => (1, 4),
            0xd7 => (1, 8),
            0xd8 => (1, 16),
            0xc7 => (2, 0),
            0xc8 => (3, 0),
            0xc9 => (5, 0),
            _ => return Ok(None),
        };
        self.pos += 1;
        let len = if header > 1 { self.uint(header - 1)? as usize } else { len };
        let code = self.byte()? as i8;
        self.take(len)?;
        Ok(Some(code))
    }

    fn value(&mut self, ty: &Type) -> Result<Value, CodecError> {
        if self.peek()? == 0xc0 {
            self.pos += 1;
            return Ok(Value::Null);
        }
        if let Some(code) = self.ext()? {
            return match code {
                EXT_UNKNOWN | EXT_REFINED_UNKNOWN => Ok(Value::Unknown),
                other => err(format!("unsupported extension type {other}")),
            };
        }
        match ty {
            Type::String => Ok(Value::String(self.string()?)),
            Type::Bool => match self.byte()? {
                0xc2 => Ok(Value::Bool(false)),
                0xc3 => Ok(Value::Bool(true)),
                b => err(format!("expected bool, found marker {b:#x}")),
            },
            Type::Number => self.number().map(Value::Number),
            Type::List(e) | Type::Set(e) => {
                let n = self.array_len()?;
                (0..n).map(|_| self.value(e)).collect::<Result<_, _>>().map(Value::List)
            }
            Type::Tuple(es) => {
                let n = self.array_len()?;
                if n != es.len() {
                    return err(format!("tuple of {} elements has {n}", es.len()));
                }
                es.iter().map(|e| self.value(e)).collect::<Result<_, _>>().map(Value::List)
            }
            Type::Map(e) => {
                let n = self.map_len()?;
                let mut out = BTreeMap::new();
                for _ in 0..n {
                    let k = self.string()?;
                    out.insert(k, self.value(e)?);
                }
                Ok(Value::Map(out))
            }
            Type::Object(attrs) => {
                let n = self.map_len()?;
                let mut out: BTreeMap<String, Value> = attrs.keys().map(|k| (k.clone(), Value::Null)).collect();
                for _ in 0..n {
                    let k = self.string()?;
                    let attr_ty = attrs.get(&k).ok_or_else(|| CodecError(format!("unexpected attribute {k:?}")))?;
                    out.insert(k, self.value(attr_ty)?);
                }
                Ok(Value::Map(out))
            }
            Type::Dynamic => {
                if self.array_len()? != 2 {
                    return err("dynamic value must be a [type, value] pair");
                }
                let type_json = self.bytes_or_string()?;
                let json: serde_json::Value = serde_json::from_slice(&type_json).map_err(|e| CodecError(format!("dynamic type: {e}")))?;
                let concrete = Type::from_json(&json).map_err(CodecError)?;
                self.value(&concrete)
            }
        }
    }

    fn string(&mut self) -> Result<String, CodecError> {
        let bytes = self.bytes_or_string()?;
        String::from_utf8(bytes).map_err(|_| CodecError("string is not UTF-8".into()))
    }

    fn bytes_or_string(&mut self) -> Result<Vec<u8>, CodecError> {
        let m = self.byte()?;
        let len = match m {
            0xa0..=0xbf => (m & 0x1f) as usize,
            0xd9 | 0xc4 => self.uint(1)? as usize,
            0xda | 0xc5 => self.uint(2)? as usize,
            0xdb | 0xc6 => self.uint(4)? as usize,
            b => return err(format!("expected string, found marker {b:#x}")),
        };
        Ok(self.take(len)?.to_vec())
    }

    fn array_len(&mut self) -> Result<usize, CodecError> {
        let m = self.byte()?;
        Ok(match m {
            0x90..=0x9f => (m & 0x0f) as usize,
            0xdc => self.uint(2)? as usize,
            0xdd => self.uint(4)? as usize,
            b => return err(format!("expected array, found marker {b:#x}")),
        })
    }

    fn map_len(&mut self) -> Result<usize, CodecError> {
        let m = self.byte()?;
        Ok(match m {
            0x80..=0x8f => (m & 0x0f) as usize,
            0xde => self.uint(2)? as usize,
            0xdf => self.uint(4)? as usize,
            b => return err(format!("expected map, found marker {b:#x}")),
        })
    }

    fn number(&mut self) -> Result<serde_json::Number, CodecError> {
        let m = self.peek()?;
        Ok(match m {
            0x00..=0x7f => {
                self.pos += 1;
                u64::from(m).into()
            }
            0xe0..=0xff => {
                self.pos += 1;
                i64::from(m as i8).into()
            }
            0xcc => {
                self.pos += 1;
                self.uint(1)?.into()
            }
            0xcd => {
                self.pos += 1;
                self.uint(2)?.into()
            }
            0xce => {
                self.pos += 1;
                self.uint(4)?.into()
            }
            0xcf => {
                self.pos += 1;
                self.uint(8)?.into()
            }
            0xd0 => {
                self.pos += 1;
                i64::from(self.uint(1)? as u8 as i8).into()
            }
            0xd1 => {
                self.pos += 1;
                i64::from(self.uint(2)? as u16 as i16).into()
            }
            0xd2 => {
                self.pos += 1;
                i64::from(self.uint(4)? as u32 as i32).into()
            }
            0xd3 => {
                self.pos += 1;
                (self.uint(8)? as i64).into()
            }
            0xca => {
                self.pos += 1;
                let f = f32::from_bits(self.uint(4)? as u32);
                float(f64::from(f))?
            }
            0xcb => {
                self.pos += 1;
                float(f64::from_bits(self.uint(8)?))?
            }
            // go-cty writes numbers that do not fit a float64 exactly as decimal strings.
            _ => parse_number(&self.string()?).map_err(CodecError)?,
        })
    }
}

fn float(f: f64) -> Result<serde_json::Number, CodecError> {
    serde_json::Number::from_f64(f).ok_or(CodecError(format!("{f} is not a finite number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_type() -> Type {
        Type::object([
            ("name", Type::String),
            ("count", Type::Number),
            ("enabled", Type::Bool),
            ("tags", Type::map(Type::String)),
            ("ids", Type::list(Type::Number)),
            ("nested", Type::object([("x", Type::String)])),
            ("any", Type::Dynamic),
        ])
    }

    #[test]
    fn round_trips_every_kind_of_value() {
        let v = Value::object([
            ("name", Value::string("management-01")),
            ("count", Value::from(-3)),
            ("enabled", Value::Bool(true)),
            ("tags", Value::object([("team", Value::string("platform"))])),
            ("ids", Value::List(vec![Value::from(1), Value::from(300_000), Value::Unknown])),
            ("nested", Value::Unknown),
            ("any", Value::object([("k", Value::string("v"))])),
        ]);
        let bytes = encode(&v, &schema_type()).unwrap();
        assert_eq!(decode(&bytes, &schema_type()).unwrap(), v);
    }

    #[test]
    fn missing_attributes_are_written_as_null() {
        let ty = schema_type();
        let bytes = encode(&Value::object([("name", Value::string("a"))]), &ty).unwrap();
        let back = decode(&bytes, &ty).unwrap();
        assert_eq!(back.get("name"), &Value::string("a"));
        assert_eq!(back.get("tags"), &Value::Null);
        // 7 attributes: fixmap marker 0x87 — every key present, as Terraform requires.
        assert_eq!(bytes[0], 0x87);
    }

    #[test]
    fn attributes_outside_the_schema_are_refused() {
        let e = encode(&Value::object([("bogus", Value::Null)]), &schema_type()).unwrap_err();
        assert!(e.to_string().contains("bogus"));
    }

    #[test]
    fn reads_refined_unknowns_and_go_cty_unknowns() {
        // fixext1 type 0 (go-cty's wholly unknown) and an ext8 with type 12 and a refinement map.
        assert_eq!(decode(&[0xd4, 0x00, 0x00], &Type::String).unwrap(), Value::Unknown);
        let refined = [0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc2];
        assert_eq!(decode(&refined, &Type::String).unwrap(), Value::Unknown);
        // We write the plain form only.
        assert_eq!(encode(&Value::Unknown, &Type::String).unwrap(), vec![0xd4, 0x00, 0x00]);
    }

    #[test]
    fn reads_numbers_in_every_width_and_as_strings() {
        assert_eq!(decode(&[0xcd, 0x01, 0x00], &Type::Number).unwrap(), Value::from(256));
        assert_eq!(decode(&[0xd0, 0xff], &Type::Number).unwrap(), Value::from(-1));
        let big = encode(&Value::string("12345678901234567890123"), &Type::String).unwrap();
        let n = decode(&big, &Type::Number).unwrap();
        assert!(matches!(n, Value::Number(_)));
        let f = [0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0];
        assert_eq!(decode(&f, &Type::Number).unwrap().to_json().unwrap(), serde_json::json!(1.5));
    }

    #[test]
    fn dynamic_values_carry_their_type() {
        // [type JSON "string", "x"] as go-cty writes it.
        let mut bytes = vec![0x92, 0xc4, 8];
        bytes.extend_from_slice(b"\"string\"");
        bytes.extend_from_slice(&[0xa1, b'x']);
        assert_eq!(decode(&bytes, &Type::Dynamic).unwrap(), Value::string("x"));
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let bytes = encode(&Value::object([("name", Value::string("abc"))]), &schema_type()).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], &schema_type()).is_err(), "cut at {cut}");
        }
    }
}
