//! A program that exports `wasi:cli/run@0.3.0`, written for wit-bindgen 0.61 (built unmodified
//! by `port-dropin-command` with isyswasfa, by `port-dropin-command-native` with wit-bindgen).
//! Like every wasm32-wasip2 binary it also exports std's `main` as `wasi:cli/run@0.2.0`, which a
//! runner must not prefer. The 0.3 run prints its environment, sorted, then (when
//! `ISYSWASFA_DROPIN_STDIN` is set) what it read from `wasi:cli/stdin@0.3.0` and how that ended.

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
        if std::env::var_os("ISYSWASFA_DROPIN_STDIN").is_some() {
            let (mut input, ended) = wasi::cli::stdin::read_via_stream();
            let mut text = Vec::new();
            loop {
                let (result, chunk) = input.read(Vec::with_capacity(4096)).await;
                text.extend_from_slice(&chunk);
                if !matches!(result, wit_bindgen::StreamResult::Complete(_)) {
                    break;
                }
            }
            drop(input);
            println!("stdin: {:?}", String::from_utf8_lossy(&text));
            println!("stdin ended: {:?}", ended.await);
        }
        Ok(())
    }
}

export!(Program);

fn main() {
    println!("wasi:cli/run@0.2.0 (std's main)");
}
