//! `parse_ws_message` and `parse_http` never panic; every request they return encodes (WS,
//! HTTP POST) to a message that parses back to the same request.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tlcp_proto::{ProtocolVersion, parse_http, parse_ws_message};

fuzz_target!(|input: (String, String)| {
    let (a, b) = input;
    let mut requests = Vec::new();
    match parse_ws_message(&a) {
        Ok(reqs) => requests.extend(reqs.into_iter().map(|r| (r, None))),
        Err(e) => {
            let _ = (e.to_string(), e.code());
        }
    }
    match parse_http(&a, &b) {
        Ok(http) => requests.extend(http.requests.into_iter().map(|r| (r, http.version))),
        Err(e) => {
            let _ = (e.to_string(), e.code());
        }
    }
    for (req, version) in requests {
        let mut ws = String::new();
        req.encode_ws(&mut ws);
        assert_eq!(parse_ws_message(&ws), Ok(vec![req.clone()]), "{ws:?}");
        let version = version.unwrap_or(ProtocolVersion::V2_5_0);
        let (mut path, mut body) = (String::new(), String::new());
        req.encode_http_post(version, &mut path, &mut body);
        let http = parse_http(&path, &body).expect("encoded request parses");
        assert_eq!(http.requests, vec![req], "{path:?} {body:?}");
    }
});
