//! A program that exports `wasi:cli/run@0.3.0`, written for wit-bindgen 0.61 (built unmodified
//! by `port-dropin-command` with isyswasfa, by `port-dropin-command-native` with wit-bindgen).
//! Like every wasm32-wasip2 binary it also exports std's `main` as `wasi:cli/run@0.2.0`, which a
//! runner must not prefer. The 0.3 run prints its environment, sorted.

wit_bindgen::generate!({ path: "wit", world: "command", generate_all });

struct Program;

impl exports::wasi::cli::run::Guest for Program {
    async fn run() -> Result<(), ()> {
        println!("wasi:cli/run@0.3.0");
        let mut vars: Vec<(String, String)> = std::env::vars().collect();
        vars.sort();
        for (name, value) in vars {
            println!("{name}={value}");
        }
        Ok(())
    }
}

export!(Program);

fn main() {
    println!("wasi:cli/run@0.2.0 (std's main)");
}
