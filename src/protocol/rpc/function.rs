//! GetFunctions and CallFunction.

use crate::framework::provider::Provider;
use crate::framework::server::Server;
use crate::protocol::convert;
use crate::protocol::generated::tfplugin6 as pb;

pub fn functions<P: Provider>(server: &Server<P>) -> pb::get_functions::Response {
    pb::get_functions::Response {
        functions: server.function_signatures().map(|(name, sig)| (name.to_string(), convert::function(&sig))).collect(),
        diagnostics: vec![],
    }
}

pub fn call<P: Provider>(server: &Server<P>, req: pb::call_function::Request) -> pb::call_function::Response {
    let arguments: Vec<_> = req.arguments.into_iter().map(Into::into).collect();
    match server.call_function(&req.name, &arguments) {
        Ok(result) => pb::call_function::Response { result: Some(result.into()), error: None },
        Err(e) => {
            pb::call_function::Response { result: None, error: Some(pb::FunctionError { text: e.text, function_argument: e.argument }) }
        }
    }
}
