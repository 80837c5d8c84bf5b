//! The UniFFI bindings generator for BlazeDB (`uniffi-bindgen generate ...`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
