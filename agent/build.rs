//! Links the `haproxy-agent` binary with packed relative relocations (`DT_RELR`) on Linux
//! with glibc: a position-independent binary otherwise carries ~33,000 24-byte relocation
//! entries (`.rela.dyn`, ~0.8 MB) that the loader reads at every start, so they stay
//! resident for the agent's life; packed, they take about 10 kB. GNU ld 2.38+ and lld 15+
//! pack them (and require glibc 2.36's `GLIBC_ABI_DT_RELR` where it runs: Debian 12, the
//! images' base); an older GNU ld warns that it ignores the option and links as before.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo::rustc-link-arg-bin=haproxy-agent=-Wl,-z,pack-relative-relocs");
    }
}
