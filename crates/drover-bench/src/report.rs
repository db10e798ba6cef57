//! Figures: each is printed as one JSON line the moment it is measured
//! (`{"bench":..,"value":..,"unit":..,<context>}`), and all of them again as a
//! table at the end.

use std::io::Write;

use serde_json::Value;

/// One measured figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Figure name (`dispatch_accept`, `placement_cost_us`).
    pub bench: String,
    /// The value.
    pub value: f64,
    /// Its unit (`per_s`, `ms`, `bytes`, `ratio`).
    pub unit: String,
    /// Context: sizes (`n`, `nodes`, `concurrency`), comparison figures.
    pub context: Vec<(String, Value)>,
}

impl Figure {
    /// A figure without context.
    pub fn new(bench: &str, value: f64, unit: &str) -> Figure {
        Figure { bench: bench.to_string(), value, unit: unit.to_string(), context: Vec::new() }
    }

    /// Adds a context field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Figure {
        self.context.push((key.to_string(), value.into()));
        self
    }

    /// The JSON line.
    pub fn json(&self) -> String {
        let rounded = (self.value * 1000.0).round() / 1000.0;
        let value = serde_json::Number::from_f64(rounded).map(Value::Number).unwrap_or(Value::Null);
        let mut line = format!(
            "{{\"bench\":{},\"value\":{},\"unit\":{}",
            Value::String(self.bench.clone()),
            value,
            Value::String(self.unit.clone())
        );
        for (key, value) in &self.context {
            line.push_str(&format!(",{}:{}", Value::String(key.clone()), value));
        }
        line.push('}');
        line
    }
}

/// Where figures go.
pub struct Report<'a> {
    out: &'a mut dyn Write,
    figures: Vec<Figure>,
}

impl<'a> Report<'a> {
    /// A report writing to `out`.
    pub fn new(out: &'a mut dyn Write) -> Report<'a> {
        Report { out, figures: Vec::new() }
    }

    /// Prints the figure's JSON line now and keeps it for the table.
    pub fn add(&mut self, figure: Figure) {
        let _ = writeln!(self.out, "{}", figure.json());
        let _ = self.out.flush();
        self.figures.push(figure);
    }

    /// The figures so far.
    pub fn figures(&self) -> &[Figure] {
        &self.figures
    }

    /// Prints the human table of every figure.
    pub fn table(&mut self) -> std::io::Result<()> {
        if self.figures.is_empty() {
            return Ok(());
        }
        let mut table = tabwriter::TabWriter::new(Vec::new()).padding(2);
        writeln!(table, "\nFIGURE\tVALUE\tUNIT\tCONTEXT")?;
        for figure in &self.figures {
            let context: Vec<String> = figure.context.iter().map(|(k, v)| format!("{k}={v}")).collect();
            writeln!(table, "{}\t{}\t{}\t{}", figure.bench, human(figure.value), figure.unit, context.join(" "))?;
        }
        table.flush()?;
        let bytes = table.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?;
        self.out.write_all(&bytes)?;
        self.out.flush()
    }
}

fn human(value: f64) -> String {
    if value.abs() >= 100.0 { format!("{value:.0}") } else { format!("{value:.3}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_bench_value_unit_then_context() {
        let figure = Figure::new("dispatch_accept", 12345.6789, "per_s").with("n", 100).with("nodes", 0);
        assert_eq!(figure.json(), r#"{"bench":"dispatch_accept","value":12345.679,"unit":"per_s","n":100,"nodes":0}"#);
        let parsed: Value = serde_json::from_str(&figure.json()).expect("valid JSON");
        assert_eq!(parsed["unit"], "per_s");
    }
}
