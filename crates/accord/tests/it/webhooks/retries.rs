//! The retry schedule on the injected clock, giving up, replay, `Retry-After`, 3xx and 410.

use super::{
    connect_new_company, deliveries, recorded, register, spawn, time_of, wait_deliveries, Answer,
    Receiver,
};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use time::OffsetDateTime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_follow_the_schedule_on_the_injected_clock_then_give_up_and_replay() {
    let app = spawn(&[]).await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = register(&app, &receiver.url, &["connection.linked"]).await;
    receiver.trust(&[&secret]);
    receiver.script((0..8).map(|_| Answer::Status(503, vec![])));
    app.browser().connect(Some(&app.link_url), "sandbox").await;

    // Attempt 1 goes at once; each next one only once the clock reaches its time.
    let schedule = [5_i64, 300, 1800, 7200, 18_000, 36_000, 36_000];
    let mut last_at: Option<OffsetDateTime> = None;
    for (n, expected) in (1..=8).zip(schedule.iter().map(Some).chain([None])) {
        let got = receiver.wait_for(n).await;
        assert_eq!(got.len(), n, "attempt {n} sent once");
        let d = wait_deliveries(&app, &endpoint, "attempt recorded", |d| recorded(d, n)).await;
        let attempts = d[0]["attempts"].as_array().unwrap();
        let at = time_of(&attempts[n - 1]["at"]);
        if let Some(prev) = last_at {
            let gap = (at - prev).whole_seconds();
            let base = schedule[n - 2];
            // ±10 % jitter, and a second for times kept at microsecond precision.
            assert!(
                (base * 9 / 10 - 1..=base * 11 / 10 + 1).contains(&gap),
                "gap before attempt {n}: {gap} s, schedule {base} s ±10 %: {d:#?}"
            );
        }
        last_at = Some(at);
        assert_eq!(attempts[n - 1]["response_status"], 503);
        assert_eq!(attempts[n - 1]["error"], "status 503");
        if let Some(base) = expected {
            assert_eq!(d[0]["status"], "pending");
            let next = time_of(&d[0]["next_attempt_at"]);
            let wait = (next - at).whole_seconds();
            assert!(
                (base * 9 / 10 - 1..=base * 11 / 10 + 1).contains(&wait),
                "after attempt {n}: {wait} s, schedule {base} s ±10 %: {d:#?}"
            );
            if n == 2 {
                // Not a moment early.
                app.clock.set(next - time::Duration::seconds(1));
                tokio::time::sleep(Duration::from_millis(300)).await;
                assert_eq!(receiver.received().len(), n, "nothing before its time");
            }
            app.clock.set(next);
        } else {
            assert_eq!(d[0]["status"], "failed", "given up after the last step");
            assert_eq!(d[0]["next_attempt_at"], Value::Null);
        }
    }
    app.clock.advance(time::Duration::days(2));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 8, "no attempt after giving up");

    // A replay sends the same event again, with the same webhook-id.
    let d = deliveries(&app, &endpoint).await;
    let (status, replay) = app
        .api_json(
            Method::POST,
            &format!(
                "/v1/webhook-endpoints/{endpoint}/deliveries/{}/replay",
                d[0]["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay["event_id"], d[0]["event_id"]);
    let got = receiver.wait_for(9).await;
    assert_eq!(got[8].id, got[0].id, "same webhook-id");
    assert_eq!(got[8].id, d[0]["event_id"].as_str().unwrap());
    wait_deliveries(&app, &endpoint, "replay succeeded", |d| {
        d.len() == 2 && d[0]["status"] == "succeeded"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_redirects_fail_and_gone_disables() {
    let app = spawn(&[]).await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = register(&app, &receiver.url, &["connection.linked"]).await;
    receiver.trust(&[&secret]);
    let elsewhere = format!("http://127.0.0.1:{}/elsewhere", receiver.port);
    receiver.script([
        Answer::Status(429, vec![("retry-after", "120".into())]),
        Answer::Status(302, vec![("location", elsewhere)]),
        Answer::Status(
            307,
            vec![("location", "http://169.254.169.254/latest/meta-data".into())],
        ),
        Answer::Status(410, vec![]),
    ]);
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    receiver.wait_for(1).await;
    let d = wait_deliveries(&app, &endpoint, "first attempt", |d| recorded(d, 1)).await;
    let first_at = time_of(&d[0]["attempts"][0]["at"]);
    let next = time_of(&d[0]["next_attempt_at"]);
    assert_eq!(
        (next - first_at).whole_seconds(),
        120,
        "Retry-After (120 s) is later than the schedule (5 s)"
    );
    app.clock.set(next);
    receiver.wait_for(2).await;
    let d = wait_deliveries(&app, &endpoint, "second attempt", |d| recorded(d, 2)).await;
    assert_eq!(d[0]["attempts"][1]["response_status"], 302);
    assert_eq!(
        d[0]["attempts"][1]["error"],
        "status 302: redirects are not followed"
    );
    assert_eq!(d[0]["status"], "pending", "3xx is a failure");
    app.clock.set(time_of(&d[0]["next_attempt_at"]));
    receiver.wait_for(3).await;
    let d = wait_deliveries(&app, &endpoint, "third attempt", |d| recorded(d, 3)).await;
    assert_eq!(d[0]["attempts"][2]["response_status"], 307);
    app.clock.set(time_of(&d[0]["next_attempt_at"]));
    receiver.wait_for(4).await;
    let d = wait_deliveries(&app, &endpoint, "410", |d| {
        d[0]["status"] == "failed" && recorded(d, 4)
    })
    .await;
    assert_eq!(d[0]["attempts"][3]["response_status"], 410);
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r.path == "/hooks/accord"),
        "no redirect was followed"
    );
    let (_, e) = app
        .api_json(
            Method::GET,
            &format!("/v1/webhook-endpoints/{endpoint}"),
            None,
        )
        .await;
    assert_eq!(
        (e["enabled"].clone(), e["disabled_reason"].clone()),
        (json!(false), json!("gone"))
    );
    // Disabled: later events wait; re-enabling sends them.
    connect_new_company(&app, "Later Ltd").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        4,
        "nothing sent to a disabled endpoint"
    );
}
