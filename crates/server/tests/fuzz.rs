//! Request parsing fuzzed: arbitrary bytes, JSON and binary bodies never
//! panic, and what parses is rectangular and equals its JSON form.

use proptest::prelude::*;
use sluice_server::{parse_infer_body, parse_infer_request, RequestValues};

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[a-zA-Z0-9_ ]{0,8}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("inputs".to_string()),
                    Just("name".to_string()),
                    Just("shape".to_string()),
                    Just("datatype".to_string()),
                    Just("data".to_string()),
                    Just("id".to_string()),
                    Just("outputs".to_string()),
                    Just("parameters".to_string()),
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_infer_request(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics_and_accepted_columns_are_rectangular(value in json_value()) {
        if let Ok((_, columns)) = parse_infer_request(value.to_string().as_bytes()) {
            prop_assert!(!columns.is_empty());
        }
    }

    #[test]
    fn well_formed_tensors_parse_to_one_value_per_row(
        data in prop::collection::vec(any::<i64>(), 1..20),
        nested in any::<bool>(),
    ) {
        let (shape, values) = if nested {
            (serde_json::json!([data.len(), 1]), serde_json::Value::from(data.iter().map(|v| serde_json::json!([v])).collect::<Vec<_>>()))
        } else {
            (serde_json::json!([data.len()]), serde_json::Value::from(data.clone()))
        };
        let body = serde_json::json!({ "inputs": [{ "name": "k", "shape": shape, "datatype": "INT64", "data": values }] });
        let (_, columns) = parse_infer_request(body.to_string().as_bytes()).unwrap();
        prop_assert_eq!(&columns[0].1, &RequestValues::Integers(data));
    }

    #[test]
    fn arbitrary_binary_bodies_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        header in 0usize..300,
    ) {
        let _ = parse_infer_body(&bytes, Some(header));
    }

    /// The binary data extension decodes to what the same values give as JSON.
    #[test]
    fn binary_tensors_equal_their_json_form(
        keys in prop::collection::vec(any::<i64>(), 1..20),
        amount in prop::collection::vec(-1e12f64..1e12, 1..20),
        label in "[a-z]{0,6}",
    ) {
        let rows = keys.len().min(amount.len());
        let (keys, amount) = (&keys[..rows], &amount[..rows]);
        let labels = vec![label.clone(); rows];
        let mut binary: Vec<u8> = keys.iter().flat_map(|k| k.to_le_bytes()).collect();
        let key_size = binary.len();
        binary.extend(amount.iter().flat_map(|a| a.to_le_bytes()));
        let mut text_bytes = Vec::new();
        for l in &labels {
            text_bytes.extend((l.len() as u32).to_le_bytes());
            text_bytes.extend(l.as_bytes());
        }
        binary.extend(&text_bytes);
        let header = serde_json::json!({ "inputs": [
            { "name": "k", "shape": [rows], "datatype": "INT64", "parameters": { "binary_data_size": key_size } },
            { "name": "a", "shape": [rows, 1], "datatype": "FP64", "parameters": { "binary_data_size": rows * 8 } },
            { "name": "l", "shape": [rows], "datatype": "BYTES", "parameters": { "binary_data_size": text_bytes.len() } },
        ] }).to_string();
        let mut body = header.clone().into_bytes();
        body.extend(&binary);
        let (_, from_binary) = parse_infer_body(&body, Some(header.len())).unwrap();
        let json = serde_json::json!({ "inputs": [
            { "name": "k", "shape": [rows], "datatype": "INT64", "data": keys },
            { "name": "a", "shape": [rows, 1], "datatype": "FP64", "data": amount },
            { "name": "l", "shape": [rows], "datatype": "BYTES", "data": labels },
        ] });
        let (_, from_json) = parse_infer_request(json.to_string().as_bytes()).unwrap();
        prop_assert_eq!(from_binary[0].1.clone(), from_json[0].1.clone());
        prop_assert_eq!(from_binary[2].1.clone(), from_json[2].1.clone());
        let parsed: Vec<f64> = from_binary[1].1.texts().iter().map(|t| t.parse().unwrap()).collect();
        prop_assert_eq!(parsed, amount.to_vec());
        // One byte short, or one byte over, is a 400, never a guess.
        let mut short = body.clone();
        short.pop();
        prop_assert!(parse_infer_body(&short, Some(header.len())).is_err());
        let mut long = body;
        long.push(0);
        prop_assert!(parse_infer_body(&long, Some(header.len())).is_err());
    }
}
