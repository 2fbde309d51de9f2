//! A command written for wit-bindgen 0.61's async support (built unmodified by `port-client`
//! with isyswasfa, by `port-client-native` with wit-bindgen), run by `isyswasfa run` with one
//! of these arguments:
//!
//! - `fetch AUTHORITY PATH`: `GET http://AUTHORITY/PATH`; prints the status, the body and what
//!   the request's transmit future said.
//! - `fetch-within AUTHORITY PATH MILLIS`: the same with the request option
//!   `between-bytes-timeout` set to `MILLIS`.
//! - `linger`: spawns a task that prints a line after 300 ms, and returns from `run` at once.
//! - `linger-busy`: the same with a task that yields for a second instead of waiting.
//! - `cli`: prints what `wasi:cli@0.3.0` says of the program (its arguments, environment,
//!   initial directory, whether stdout is a terminal), writing lines through both the WASI 0.3
//!   stdout stream and std's `println!` (WASI 0.2), in turns.
//! - `exit CODE`: prints a line, then exits with `CODE` through `wasi:cli/exit@0.3.0`
//!   (`ok`/`err`: `exit`, a number: `exit-with-code`).

wit_bindgen::generate!({ path: "wit", world: "client", generate_all });

use wasi::http::types::{Fields, Method, Request, RequestOptions, Response, Scheme};
use wit_bindgen::StreamResult;

struct Client;

impl exports::wasi::cli::run::Guest for Client {
    async fn run() -> Result<(), ()> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["fetch", authority, path] => fetch(authority, path, None).await,
            ["fetch-within", authority, path, millis] => {
                fetch(authority, path, millis.parse::<u64>().ok()).await
            }
            ["linger"] => {
                wit_bindgen::spawn_local(async {
                    wasi::clocks::monotonic_clock::wait_for(300_000_000).await;
                    println!("the spawned task ran on after run returned");
                });
                println!("run returns");
                Ok(())
            }
            ["linger-busy"] => {
                wit_bindgen::spawn_local(async {
                    let start = wasi::clocks::monotonic_clock::now();
                    while wasi::clocks::monotonic_clock::now() - start < 1_000_000_000 {
                        wit_bindgen::yield_async().await;
                    }
                    println!("the spawned task ran on after run returned");
                });
                println!("run returns");
                Ok(())
            }
            ["cli"] => {
                cli().await;
                Ok(())
            }
            ["exit", code] => {
                println!("exiting with {code}");
                match code {
                    "ok" => wasi::cli::exit::exit(Ok(())),
                    "err" => wasi::cli::exit::exit(Err(())),
                    number => wasi::cli::exit::exit_with_code(number.parse().unwrap_or(255)),
                }
                println!("exit returned");
                Err(())
            }
            _ => {
                eprintln!(
                    "usage: fetch AUTHORITY PATH | fetch-within AUTHORITY PATH MILLIS | linger | \
                     linger-busy | cli | exit CODE"
                );
                Err(())
            }
        }
    }
}

async fn fetch(authority: &str, path: &str, between_bytes_ms: Option<u64>) -> Result<(), ()> {
    let (_, trailers_rx) = wit_future::new(|| Ok(None));
    let options = between_bytes_ms.map(|millis| {
        let options = RequestOptions::new();
        // A fresh options resource is mutable.
        let _ = options.set_between_bytes_timeout(Some(millis * 1_000_000));
        options
    });
    let (request, transmitted) = Request::new(Fields::new(), None, trailers_rx, options);
    let aimed = request.set_method(&Method::Get).is_ok()
        && request.set_scheme(Some(&Scheme::Http)).is_ok()
        && request.set_authority(Some(authority)).is_ok()
        && request.set_path_with_query(Some(path)).is_ok();
    if !aimed {
        println!("the host refused the request");
        return Err(());
    }
    let response = match wasi::http::client::send(request).await {
        Ok(response) => response,
        Err(code) => {
            println!("error {code:?}");
            return Err(());
        }
    };
    println!("status {}", response.get_status_code());
    let (_, consumed_rx) = wit_future::new(|| Ok(()));
    let (mut body, trailers) = Response::consume_body(response, consumed_rx);
    let mut all = Vec::new();
    loop {
        let (result, chunk) = body.read(Vec::with_capacity(4096)).await;
        all.extend_from_slice(&chunk);
        if !matches!(result, StreamResult::Complete(_)) {
            break;
        }
    }
    println!("body {}", String::from_utf8_lossy(&all));
    println!("trailers {:?}", trailers.await.map(|t| t.is_some()));
    println!("transmitted {:?}", transmitted.await);
    Ok(())
}

/// Writes `text` through `wasi:cli/stdout@0.3.0` and waits until it is written.
async fn write_stdout(text: String) {
    let (mut writer, reader) = wit_stream::new::<u8>();
    let done = wasi::cli::stdout::write_via_stream(reader);
    writer.write_all(text.into_bytes()).await;
    drop(writer);
    if let Err(error) = done.await {
        eprintln!("stdout failed: {error:?}");
    }
}

async fn cli() {
    use wasi::cli::environment;
    // The first argument is the program's name: the file, which differs between the builds.
    let arguments: Vec<String> = environment::get_arguments().into_iter().skip(1).collect();
    write_stdout(format!("arguments {arguments:?}\n")).await;
    let mut vars = environment::get_environment();
    vars.sort();
    println!("environment {vars:?}");
    write_stdout(format!(
        "initial cwd {:?}\n",
        environment::get_initial_cwd()
    ))
    .await;
    println!(
        "stdout is a terminal: {}",
        wasi::cli::terminal_stdout::get_terminal_stdout().is_some()
    );
    write_stdout("done\n".to_string()).await;
}

export!(Client);
