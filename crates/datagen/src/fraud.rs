//! A seeded credit-card data set with learnable fraud: card profiles, and
//! transactions of which about 0.5% are fraud, arriving in short bursts of
//! large purchases at unusual merchants, at night, more often on new cards.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// Everyday merchants with a typical amount, and those fraud prefers.
const MERCHANTS: &[(&str, f64)] = &[
    ("grocery", 45.0),
    ("fuel", 60.0),
    ("restaurant", 35.0),
    ("pharmacy", 25.0),
    ("online", 55.0),
    ("travel", 300.0),
    ("electronics", 150.0),
];
const FRAUD_MERCHANTS: &[&str] = &["electronics", "online", "travel"];
const CREDIT_LIMITS: &[f64] = &[1_000.0, 2_500.0, 5_000.0, 10_000.0];

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct FraudOptions {
    /// Transactions in all, fraud included (about one in 200 is fraud).
    pub transactions: usize,
    /// Cards, numbered from 0 (at least one); about one in ten is issued
    /// during the period.
    pub cards: i64,
    /// Length of the period the transactions span, ending at `end_micros`.
    pub days: i64,
    /// The last transaction is before this time.
    pub end_micros: i64,
    /// Seeds the generator: the same options give the same data everywhere.
    pub seed: u64,
}

/// `cards`: card_id, issued_at, credit_limit. `transactions`: card_id, ts,
/// amount, merchant, is_fraud, sorted by time; (card_id, ts) is unique.
pub struct FraudData {
    /// One row per card.
    pub cards: RecordBatch,
    /// Every transaction, oldest first.
    pub transactions: RecordBatch,
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let v: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// Generates the cards and their transactions.
pub fn fraud_data(options: FraudOptions) -> FraudData {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let start = options.end_micros - options.days * DAY;
    let cards = options.cards.max(1);
    let mut issued = Vec::with_capacity(cards as usize);
    let mut limits = Vec::with_capacity(cards as usize);
    for _ in 0..cards {
        // One card in ten is new: issued during the period.
        let at = if rng.random_range(0.0..1.0) < 0.1 {
            start + rng.random_range(0..options.days * DAY * 3 / 4)
        } else {
            start - rng.random_range(DAY..730 * DAY)
        };
        issued.push(at);
        limits.push(CREDIT_LIMITS[rng.random_range(0..CREDIT_LIMITS.len())]);
    }

    let fraud_budget = options.transactions / 200;
    let normal_count = options.transactions - fraud_budget;
    let mut rows: Vec<(i64, i64, f64, &'static str, bool)> =
        Vec::with_capacity(options.transactions);
    for _ in 0..normal_count {
        // Some cards are used far more than others.
        let u: f64 = rng.random_range(0.0..1.0);
        let card = ((u * u) * cards as f64) as i64;
        let from = issued[card as usize].max(start);
        let mut ts = rng.random_range(from..options.end_micros);
        // Daytime shopping: most purchases between 07:00 and 23:00.
        if (ts.rem_euclid(DAY) / HOUR) < 7 && rng.random_range(0.0..1.0) < 0.8 {
            ts += 8 * HOUR;
        }
        let (merchant, typical) = MERCHANTS[rng.random_range(0..MERCHANTS.len())];
        let amount = (typical * (0.6 * normal(&mut rng)).exp() * 100.0).round() / 100.0;
        rows.push((
            card,
            ts.min(options.end_micros - 1),
            amount,
            merchant,
            false,
        ));
    }
    let mut frauds = 0;
    while frauds < fraud_budget {
        let card = loop {
            let card = rng.random_range(0..cards);
            let new = issued[card as usize] >= start;
            if new || rng.random_range(0.0..1.0) < 0.3 {
                break card;
            }
        };
        let from = issued[card as usize].max(start);
        let night = rng.random_range(0..options.days) * DAY + rng.random_range(0..5) * HOUR;
        let mut ts = (start + night).max(from);
        let burst = rng.random_range(3..9).min(fraud_budget - frauds);
        for _ in 0..burst {
            ts += rng.random_range(30_000_000..600_000_000);
            if ts >= options.end_micros {
                break;
            }
            let merchant = FRAUD_MERCHANTS[rng.random_range(0..FRAUD_MERCHANTS.len())];
            let share: f64 = rng.random_range(0.15..0.6);
            let amount = (limits[card as usize] * share * 100.0).round() / 100.0;
            rows.push((card, ts, amount, merchant, true));
            frauds += 1;
        }
    }
    // One row per (card, time): nudge exact repeats by a microsecond.
    rows.sort_by_key(|r| (r.0, r.1));
    for i in 1..rows.len() {
        if rows[i].0 == rows[i - 1].0 && rows[i].1 <= rows[i - 1].1 {
            rows[i].1 = rows[i - 1].1 + 1;
        }
    }
    rows.sort_by_key(|r| (r.1, r.0));

    let card_batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("card_id", DataType::Int64, false),
            Field::new("issued_at", timestamp(), false),
            Field::new("credit_limit", DataType::Float64, false),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(0..cards)),
            Arc::new(TimestampMicrosecondArray::from(issued).with_timezone("UTC")),
            Arc::new(Float64Array::from(limits)),
        ],
    )
    .expect("the card columns match their schema");
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1))
                .with_timezone("UTC"),
        ),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.4)))),
    ];
    let transactions = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("card_id", DataType::Int64, false),
            Field::new("ts", timestamp(), false),
            Field::new("amount", DataType::Float64, false),
            Field::new("merchant", DataType::Utf8, false),
            Field::new("is_fraud", DataType::Boolean, false),
        ])),
        columns,
    )
    .expect("the transaction columns match their schema");
    FraudData {
        cards: card_batch,
        transactions,
    }
}
