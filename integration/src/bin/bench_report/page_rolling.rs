//! The page's P3 and P4 figures: the rolling replacement (with and without policies), its
//! steps and failed requests, and the Service added after it.

use serde_json::Value;

use super::super::{at, ms, num, text, thousands};
use super::items;
use integration::template::{Vals, put, put_list};

/// `requests | failed | p50 | p90 | p99 | p99.9 | max` of a load's requests, as table cells.
fn load_cells(l: &Value) -> anyhow::Result<String> {
    Ok(format!(
        "{} | {} | {} | {} | {} | {} | {}",
        thousands(num(l, "sent")?),
        thousands(num(l, "failed")?),
        ms(num(l, "latency_ms/p50")?),
        ms(num(l, "latency_ms/p90")?),
        ms(num(l, "latency_ms/p99")?),
        ms(num(l, "latency_ms/p999")?),
        ms(num(l, "latency_ms/max")?)
    ))
}

/// P3 and P4: the rolling replacement with and without policies, its steps and failures,
/// and the new Service.
pub(super) fn p3(v: &mut Vals, p3: &Value, p3p: &Value) -> anyhow::Result<()> {
    put(v, "p3_rate", text(p3, "rate")?);
    put(v, "p3_rate_per_s", thousands(num(p3, "rate")?));
    put(v, "p3_pods", text(p3, "pods")?);
    put(v, "p3_echo_delay_ms", text(p3, "echo_delay_ms")?);
    put(v, "p3_slot_ms", thousands(num(p3, "slot_ms")?));
    put(
        v,
        "p3_failure_counted_at_ms",
        text(p3, "agent/load/failure_counted_at_ms")?,
    );
    p3_loads(v, p3, p3p)?;
    for step in ["new_ready", "old_terminating", "drained", "old_gone"] {
        let a = at(p3, &format!("agent/steps/{step}"))?;
        let b = at(p3, &format!("baseline/steps/{step}"))?;
        let cells = format!(
            "{} / {} | {} / {}",
            ms(num(a, "p50_ms")?),
            ms(num(a, "max_ms")?),
            ms(num(b, "p50_ms")?),
            ms(num(b, "max_ms")?)
        );
        put(v, &format!("p3_step_{step}"), cells);
    }
    put_list(v, "p3_failures", p3_failures(p3)?);
    put(v, "p3_agent_reloads", text(p3, "agent/reloads")?);
    put(
        v,
        "p4_agent_reloads_total",
        thousands(num(p3, "new_service/agent_reloads_total")?),
    );
    put(
        v,
        "p4_serving_after",
        ms(num(p3, "new_service/serving_after_ms")?),
    );
    Ok(())
}

/// Each P3 run's load figures, for the agent and the baseline: all requests, by client,
/// the reloads and the successful requests' latency.
fn p3_loads(v: &mut Vals, p3: &Value, p3p: &Value) -> anyhow::Result<()> {
    for (prefix, run) in [("p3", p3), ("p3p", p3p)] {
        for key in ["agent", "baseline"] {
            let name = format!("{prefix}_{key}");
            put(
                v,
                &format!("{name}_all"),
                load_cells(at(run, &format!("{key}/load"))?)?,
            );
            for (client, path) in [("new", "new_connection"), ("keep_alive", "keep_alive")] {
                let l = at(run, &format!("{key}/load/by_client/{path}"))?;
                put(v, &format!("{name}_{client}"), load_cells(l)?);
            }
            put(
                v,
                &format!("{name}_reloads"),
                text(run, &format!("{key}/reloads"))?,
            );
            let ok = format!(
                "{} / {}",
                ms(num(run, &format!("{key}/load/latency_ok_ms/p99"))?),
                ms(num(run, &format!("{key}/load/latency_ok_ms/max"))?)
            );
            put(v, &format!("{name}_ok"), ok);
        }
    }
    Ok(())
}

/// The failed requests of P3 (without policies), by side: when, and the errors.
fn p3_failures(p3: &Value) -> anyhow::Result<Vec<Vals>> {
    let mut failures = Vec::new();
    for (name, key) in [("agent", "agent"), ("reload per change", "baseline")] {
        let errors = items(p3, &format!("{key}/load/errors"))?;
        if errors.is_empty() {
            continue;
        }
        let times: Vec<String> = items(p3, &format!("{key}/load/failed_at_s"))?
            .iter()
            .map(|t| format!("{t} s"))
            .collect();
        let mut item = Vals::new();
        put(&mut item, "name", name);
        put(&mut item, "times", times.join(", "));
        let errors = errors
            .iter()
            .map(|e| {
                let mut line = Vals::new();
                put(
                    &mut line,
                    "error",
                    e.as_str().unwrap_or_default().replace('`', "'"),
                );
                line
            })
            .collect();
        put_list(&mut item, "errors", errors);
        failures.push(item);
    }
    Ok(failures)
}
