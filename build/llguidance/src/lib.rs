//! Empty: the build uses the llguidance package's own cdylib (see Cargo.toml).
