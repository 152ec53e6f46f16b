#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| terraform_provider_maestro_fuzz::state_upgrade(data));
