#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| terraform_provider_maestro_fuzz::policy_document(data));
