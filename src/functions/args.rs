//! Reading a function's arguments, and blaming the one that is wrong.

/// A string argument, or the error blaming it.
pub(super) fn string_arg(
    args: &[crate::framework::Value],
    index: usize,
    name: &str,
) -> Result<String, crate::framework::resource::FunctionError> {
    args.get(index).and_then(|v| v.as_str()).map(str::to_string).ok_or_else(|| crate::framework::resource::FunctionError {
        text: format!("{name} must be a known string"),
        argument: Some(index as i64),
    })
}

/// A rule's refusal, blaming argument `index`.
pub(super) fn check(index: usize, name: &str, rule: Result<(), String>) -> Result<(), crate::framework::resource::FunctionError> {
    rule.map_err(|e| crate::framework::resource::FunctionError { text: format!("{name} {e}"), argument: Some(index as i64) })
}
