//! CallFunction: arguments decoded against the signature (the variadic parameter takes the
//! rest), the function called, its result encoded; every failure is a function error.

use super::{decode, encode, DynamicValue, Server};
use crate::framework::provider::Provider;
use crate::framework::resource::FunctionError;

impl<P: Provider> Server<P> {
    pub fn call_function(&self, name: &str, arguments: &[DynamicValue]) -> Result<DynamicValue, FunctionError> {
        let fail = |text: String, argument: Option<i64>| Err(FunctionError { text, argument });
        let Some(f) = self.functions.get(name) else {
            return fail(format!("the maestro provider has no function {name:?}"), None);
        };
        let sig = f.signature();
        let mut args = Vec::with_capacity(arguments.len());
        for (i, dv) in arguments.iter().enumerate() {
            let param = sig.parameters.get(i).or(sig.variadic.as_ref());
            let Some(param) = param else { return fail(format!("too many arguments ({})", arguments.len()), Some(i as i64)) };
            match decode(Some(dv), &param.ty) {
                Ok(v) => args.push(v),
                Err(d) => return fail(d.to_string(), Some(i as i64)),
            }
        }
        let result = f.call(&args)?;
        encode(&result, &sig.return_type).or_else(|d| fail(d.to_string(), None))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::configured;
    use super::*;
    use crate::framework::value::{Type, Value};

    fn text(s: &str) -> DynamicValue {
        encode(&Value::string(s), &Type::String).unwrap()
    }

    #[tokio::test]
    async fn arguments_are_decoded_against_the_signature_and_the_result_encoded() {
        let server = configured().await;
        let result = server.call_function("shout", &[text("hi")]).unwrap();
        assert_eq!(decode(Some(&result), &Type::String).unwrap(), Value::string("HI"));
    }

    #[tokio::test]
    async fn every_failure_is_a_function_error_blaming_its_argument() {
        let server = configured().await;
        let refused = server.call_function("shout", &[text("")]).unwrap_err();
        assert_eq!((refused.text.as_str(), refused.argument), ("text must not be empty", Some(0)));
        let extra = server.call_function("shout", &[text("a"), text("b")]).unwrap_err();
        assert_eq!(extra.argument, Some(1), "{}", extra.text);
        assert!(extra.text.contains("too many arguments"));
        let undecodable = DynamicValue { msgpack: vec![0xc1], json: vec![] };
        assert_eq!(server.call_function("shout", &[undecodable]).unwrap_err().argument, Some(0));
        let unknown = server.call_function("whisper", &[]).unwrap_err();
        assert!(unknown.text.contains("no function") && unknown.argument.is_none());
    }
}
