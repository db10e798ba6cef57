//! HCL expressions to plain values: strings, numbers, bools, durations,
//! lists, maps and free-form JSON.
//!
//! Nothing is evaluated. `${...}` interpolations inside strings are runtime
//! interpolations (`${attr.kernel.name}`, `${NOMAD_ALLOC_ID}`) and come back
//! as their literal text, as Nomad keeps them. Like HCL's type conversion,
//! numbers and bools are accepted where a string is expected, and numeric or
//! `true`/`false` strings where a number or bool is. Errors are bare messages
//! (`expected a number, got a string`); the caller adds file, position and key.

use std::collections::BTreeMap;

use hcl::edit::expr::{Expression, ObjectKey, UnaryOperator};
use hcl::edit::structure::{Body, Structure};
use hcl::edit::template::{Element, Template};

/// What kind of value an expression is, for messages (`a string`, `a list`).
pub(crate) fn describe(expr: &Expression) -> String {
    match expr {
        Expression::Null(_) => "null".to_string(),
        Expression::Bool(_) => "a bool".to_string(),
        Expression::Number(_) => "a number".to_string(),
        Expression::String(_) | Expression::StringTemplate(_) | Expression::HeredocTemplate(_) => {
            "a string".to_string()
        }
        Expression::Array(_) => "a list".to_string(),
        Expression::Object(_) => "an object".to_string(),
        Expression::Parenthesis(inner) => describe(inner.inner()),
        Expression::UnaryOp(op) if is_negative_number(op.operator.value(), &op.expr) => "a number".to_string(),
        other => format!(
            "the expression `{}` (variables and functions are not evaluated; write \"${{...}}\" inside a string for runtime interpolation)",
            other.to_string().trim()
        ),
    }
}

fn is_negative_number(operator: &UnaryOperator, expr: &Expression) -> bool {
    matches!(operator, UnaryOperator::Neg) && matches!(expr, Expression::Number(_))
}

/// A template's text with interpolations and directives kept verbatim.
pub(crate) fn template_text(template: &Template) -> String {
    let mut res = String::new();
    for element in template.iter() {
        match element {
            Element::Literal(literal) => res.push_str(literal.value()),
            other => res.push_str(&Template::from(vec![other.clone()]).to_string()),
        }
    }
    res
}

/// A string; numbers and bools are converted to their text.
pub(crate) fn string(expr: &Expression) -> Result<String, String> {
    match expr {
        Expression::String(text) => Ok(text.value().clone()),
        Expression::StringTemplate(template) => Ok(template_text(template)),
        Expression::HeredocTemplate(heredoc) => Ok(template_text(&heredoc.template)),
        Expression::Number(number) => Ok(number.value().to_string()),
        Expression::Bool(value) => Ok(value.value().to_string()),
        Expression::Parenthesis(inner) => string(inner.inner()),
        Expression::UnaryOp(op) if is_negative_number(op.operator.value(), &op.expr) => {
            Ok(format!("-{}", string(&op.expr)?))
        }
        other => Err(format!("expected a string, got {}", describe(other))),
    }
}

/// A whole number (negative allowed); numeric strings are converted.
pub(crate) fn integer(expr: &Expression) -> Result<i64, String> {
    match expr {
        Expression::Number(number) => {
            let number = number.value();
            if let Some(value) = number.as_i64() {
                return Ok(value);
            }
            match number.as_f64() {
                Some(value) if value.fract() == 0.0 && value.abs() < 9.2e18 => Ok(value as i64),
                _ => Err(format!("expected a whole number, got {number}")),
            }
        }
        Expression::UnaryOp(op) if is_negative_number(op.operator.value(), &op.expr) => {
            integer(&op.expr).map(|value| -value)
        }
        Expression::Parenthesis(inner) => integer(inner.inner()),
        Expression::String(text) => {
            text.value().trim().parse::<i64>().map_err(|_| "expected a number, got a string".to_string())
        }
        other => Err(format!("expected a number, got {}", describe(other))),
    }
}

/// A whole number that fits `T` (`u32`, `u64`, `i32`).
pub(crate) fn number<T: TryFrom<i64> + Bounds>(expr: &Expression) -> Result<T, String> {
    let value = integer(expr)?;
    T::try_from(value).map_err(|_| format!("must be between {} and {}, got {value}", T::MIN_TEXT, T::MAX_TEXT))
}

/// Range text for messages about whole numbers of a given type.
pub(crate) trait Bounds {
    /// The smallest value, as text.
    const MIN_TEXT: &'static str;
    /// The largest value, as text.
    const MAX_TEXT: &'static str;
}

impl Bounds for u32 {
    const MIN_TEXT: &'static str = "0";
    const MAX_TEXT: &'static str = "4294967295";
}

impl Bounds for u64 {
    const MIN_TEXT: &'static str = "0";
    const MAX_TEXT: &'static str = "18446744073709551615";
}

impl Bounds for i32 {
    const MIN_TEXT: &'static str = "-2147483648";
    const MAX_TEXT: &'static str = "2147483647";
}

/// A bool; the strings `"true"` and `"false"` are converted.
pub(crate) fn boolean(expr: &Expression) -> Result<bool, String> {
    match expr {
        Expression::Bool(value) => Ok(*value.value()),
        Expression::String(text) => match text.value().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("expected a bool, got a string".to_string()),
        },
        Expression::Parenthesis(inner) => boolean(inner.inner()),
        other => Err(format!("expected a bool, got {}", describe(other))),
    }
}

/// A duration in nanoseconds: a Go duration string (`"30m"`) or a bare number of nanoseconds.
pub(crate) fn duration(expr: &Expression) -> Result<i64, String> {
    match expr {
        Expression::String(text) => drover_types::parse_duration(text.value()),
        Expression::Number(_) | Expression::UnaryOp(_) => integer(expr),
        Expression::Parenthesis(inner) => duration(inner.inner()),
        other => Err(format!("expected a duration such as \"30s\", got {}", describe(other))),
    }
}

/// A list of strings.
pub(crate) fn string_list(expr: &Expression) -> Result<Vec<String>, String> {
    match expr {
        Expression::Array(array) => array
            .iter()
            .enumerate()
            .map(|(item_idx, item)| string(item).map_err(|err| format!("item {}: {err}", item_idx + 1)))
            .collect(),
        Expression::Parenthesis(inner) => string_list(inner.inner()),
        other => Err(format!("expected a list of strings, got {}", describe(other))),
    }
}

/// An object whose values are strings (`meta = { ... }`, `env = { ... }`).
pub(crate) fn string_map(expr: &Expression) -> Result<BTreeMap<String, String>, String> {
    let Expression::Object(object) = expr else {
        return Err(format!("expected an object of strings, got {}", describe(expr)));
    };
    let mut res = BTreeMap::new();
    for (key, value) in object.iter() {
        let key = object_key(key)?;
        let value = string(value.expr()).map_err(|err| format!("{key}: {err}"))?;
        res.insert(key, value);
    }
    Ok(res)
}

fn object_key(key: &ObjectKey) -> Result<String, String> {
    match key {
        ObjectKey::Ident(ident) => Ok(ident.value().as_str().to_string()),
        ObjectKey::Expression(expr) => string(expr).map_err(|err| format!("object key: {err}")),
    }
}

/// Any literal value as JSON (driver `config`, `update`).
pub(crate) fn json(expr: &Expression) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    match expr {
        Expression::Null(_) => Ok(Value::Null),
        Expression::Bool(value) => Ok(Value::Bool(*value.value())),
        Expression::Number(number) => {
            let number = number.value();
            if let Some(value) = number.as_u64() {
                return Ok(Value::from(value));
            }
            if let Some(value) = number.as_i64() {
                return Ok(Value::from(value));
            }
            number
                .as_f64()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("number {number} cannot be represented"))
        }
        Expression::UnaryOp(op) if is_negative_number(op.operator.value(), &op.expr) => match json(&op.expr)? {
            Value::Number(number) => {
                if let Some(value) = number.as_i64() {
                    return Ok(Value::from(-value));
                }
                number
                    .as_f64()
                    .and_then(|value| serde_json::Number::from_f64(-value))
                    .map(Value::Number)
                    .ok_or_else(|| format!("number -{number} cannot be represented"))
            }
            other => Ok(other),
        },
        Expression::String(_) | Expression::StringTemplate(_) | Expression::HeredocTemplate(_) => {
            string(expr).map(Value::String)
        }
        Expression::Array(array) => array.iter().map(json).collect::<Result<Vec<_>, _>>().map(Value::Array),
        Expression::Object(object) => {
            let mut res = serde_json::Map::new();
            for (key, value) in object.iter() {
                let key = object_key(key)?;
                let value = json(value.expr()).map_err(|err| format!("{key}: {err}"))?;
                res.insert(key, value);
            }
            Ok(Value::Object(res))
        }
        Expression::Parenthesis(inner) => json(inner.inner()),
        other => Err(format!("expected a literal value, got {}", describe(other))),
    }
}

/// A block body as a JSON object: attributes by key, nested blocks by name
/// (then by label), a block repeated under one name becomes a list.
pub(crate) fn body_json(body: &Body) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    use serde_json::Value;
    let mut res = serde_json::Map::new();
    let mut block_names = std::collections::BTreeSet::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                let key = attr.key.value().as_str();
                if res.contains_key(key) {
                    return Err(format!("{key}: defined more than once"));
                }
                let value = json(&attr.value).map_err(|err| format!("{key}: {err}"))?;
                res.insert(key.to_string(), value);
            }
            Structure::Block(block) => {
                let name = block.ident.value().as_str();
                let mut value = Value::Object(body_json(&block.body).map_err(|err| format!("{name}: {err}"))?);
                for label in block.labels.iter().rev() {
                    let mut wrapper = serde_json::Map::new();
                    wrapper.insert(label.as_str().to_string(), value);
                    value = Value::Object(wrapper);
                }
                let first_block = block_names.insert(name);
                match res.get_mut(name) {
                    None => {
                        res.insert(name.to_string(), value);
                    }
                    Some(_) if first_block => {
                        return Err(format!("{name}: defined both as an attribute and as a block"));
                    }
                    Some(Value::Array(items)) => items.push(value),
                    Some(existing) => {
                        let first = existing.take();
                        *existing = Value::Array(vec![first, value]);
                    }
                }
            }
        }
    }
    Ok(res)
}

/// An object as a JSON map (`config = { ... }`).
pub(crate) fn json_object(expr: &Expression) -> Result<BTreeMap<String, serde_json::Value>, String> {
    match json(expr)? {
        serde_json::Value::Object(map) => Ok(map.into_iter().collect()),
        _ => Err(format!("expected an object, got {}", describe(expr))),
    }
}
