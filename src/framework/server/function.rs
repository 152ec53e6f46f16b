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
