//! Config files: TOML parsing and `validate()` never panic on any input.
#![no_main]

use hookbus::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::from_toml(text) {
        let _ = config.validate();
    }
});
