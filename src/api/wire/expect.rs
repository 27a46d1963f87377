//! How a wire field is read from JSON: each type says what shape it
//! expects, and a value of another JSON kind is an error in our words
//! ("must be a boolean, got string"), never serde's ("invalid type: ...").
//!
//! Fields use it through `#[serde(default, deserialize_with = "expect")]`.
//! [`super::parse`] puts the field's path in front of the message
//! (`temperature must be a number, got string`), so an error raised here
//! reads as what follows the path. `null` is absent for an `Option`, and
//! refused elsewhere ("got null"). A number may arrive as an integer or a
//! float: integer fields take an integral float (`100.0`) too.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Largest float read as an integer (beyond it, floats are not exact).
const MAX_INTEGRAL_FLOAT: f64 = 9.0e15;

/// A type read from one JSON value of the kinds it accepts.
///
/// Every `from_*` refuses by default with [`Expect::mismatch`]; a type
/// overrides the ones for the kinds it takes.
pub trait Expect<'de>: Sized {
    /// The shape an error says was expected ("a string", "an array of token ids").
    const EXPECTED: &'static str;

    /// The error for a value of JSON kind `got` (`"string"`, `"null"`, ...).
    fn mismatch<E: de::Error>(got: &str) -> E {
        E::custom(format_args!("must be {}, got {got}", Self::EXPECTED))
    }

    /// A JSON `null`.
    fn from_null<E: de::Error>() -> Result<Self, E> {
        Err(Self::mismatch("null"))
    }

    /// A JSON boolean.
    fn from_bool<E: de::Error>(_: bool) -> Result<Self, E> {
        Err(Self::mismatch("boolean"))
    }

    /// A JSON number, as written (integer or float).
    fn from_number<E: de::Error>(n: Number) -> Result<Self, E> {
        Err(Self::mismatch(number_kind(&n)))
    }

    /// A JSON string.
    fn from_str<E: de::Error>(_: &str) -> Result<Self, E> {
        Err(Self::mismatch("string"))
    }

    /// A JSON array; its elements' paths are tracked by `seq`.
    fn from_seq<A: SeqAccess<'de>>(_: A) -> Result<Self, A::Error> {
        Err(Self::mismatch("array"))
    }

    /// A JSON object; its fields' paths are tracked by `map`.
    fn from_map<A: MapAccess<'de>>(_: A) -> Result<Self, A::Error> {
        Err(Self::mismatch("object"))
    }
}

/// `deserialize_with` target for any [`Expect`] field.
pub fn expect<'de, D: Deserializer<'de>, T: Expect<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(ExpectVisitor(PhantomData))
}

/// JSON kind of a number as error messages spell it.
pub fn number_kind(n: &Number) -> &'static str {
    if n.is_f64() {
        "number"
    } else {
        "integer"
    }
}

/// A number as an integer: any JSON integer, or an integral float of
/// moderate size (`100.0`). `None` for anything else.
pub fn integer(n: &Number) -> Option<i128> {
    if let Some(i) = n.as_i64() {
        Some(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        Some(i128::from(u))
    } else {
        let f = n.as_f64()?;
        (f.fract() == 0.0 && f.abs() < MAX_INTEGRAL_FLOAT).then_some(f as i128)
    }
}

struct ExpectVisitor<T>(PhantomData<T>);

impl<'de, T: Expect<'de>> Visitor<'de> for ExpectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTED)
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        T::from_null()
    }

    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        T::from_null()
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        T::from_bool(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::from_number(Number::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::from_number(Number::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        match Number::from_f64(v) {
            Some(n) => T::from_number(n),
            None => Err(T::mismatch("a number that is not finite")),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::from_str(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::from_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::from_map(map)
    }
}

/// Reads one array element as an [`Expect`] type (`next_element_seed`).
pub struct ExpectSeed<T>(PhantomData<T>);

impl<T> Default for ExpectSeed<T> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<'de, T: Expect<'de>> DeserializeSeed<'de> for ExpectSeed<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        expect(d)
    }
}

/// Read every element of `seq` as `T`.
pub fn elements<'de, A: SeqAccess<'de>, T: Expect<'de>>(mut seq: A) -> Result<Vec<T>, A::Error> {
    let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
    while let Some(x) = seq.next_element_seed(ExpectSeed::default())? {
        out.push(x);
    }
    Ok(out)
}

/// Read a JSON object into `T`'s derived `Deserialize`, its fields' paths tracked.
pub fn object<'de, A: MapAccess<'de>, T: de::Deserialize<'de>>(map: A) -> Result<T, A::Error> {
    T::deserialize(de::value::MapAccessDeserializer::new(map))
}

impl<'de, T: Expect<'de>> Expect<'de> for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;

    fn mismatch<E: de::Error>(got: &str) -> E {
        T::mismatch(got)
    }
    fn from_null<E: de::Error>() -> Result<Self, E> {
        Ok(None)
    }
    fn from_bool<E: de::Error>(v: bool) -> Result<Self, E> {
        T::from_bool(v).map(Some)
    }
    fn from_number<E: de::Error>(n: Number) -> Result<Self, E> {
        T::from_number(n).map(Some)
    }
    fn from_str<E: de::Error>(v: &str) -> Result<Self, E> {
        T::from_str(v).map(Some)
    }
    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        T::from_seq(seq).map(Some)
    }
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        T::from_map(map).map(Some)
    }
}

impl<'de> Expect<'de> for bool {
    const EXPECTED: &'static str = "a boolean";

    fn from_bool<E: de::Error>(v: bool) -> Result<Self, E> {
        Ok(v)
    }
}

impl<'de> Expect<'de> for String {
    const EXPECTED: &'static str = "a string";

    fn from_str<E: de::Error>(v: &str) -> Result<Self, E> {
        Ok(v.to_owned())
    }
}

/// Any number, kept as written so an error can quote it (`got 3`, `got 1e300`).
impl<'de> Expect<'de> for Number {
    const EXPECTED: &'static str = "a number";

    fn from_number<E: de::Error>(n: Number) -> Result<Self, E> {
        Ok(n)
    }
}

/// An integer (see [`integer`]); `i128` holds every `i64` and `u64`.
impl<'de> Expect<'de> for i128 {
    const EXPECTED: &'static str = "an integer";

    fn from_number<E: de::Error>(n: Number) -> Result<Self, E> {
        integer(&n).ok_or_else(|| Self::mismatch(number_kind(&n)))
    }
}

impl<'de, T: Expect<'de>> Expect<'de> for Vec<T> {
    const EXPECTED: &'static str = "an array";

    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        elements(seq)
    }
}

/// A free-form JSON object (chat template arguments), kept as given.
impl<'de> Expect<'de> for Map<String, Value> {
    const EXPECTED: &'static str = "an object";

    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        object(map)
    }
}

/// Implement [`Expect`] for structs read from a JSON object by their
/// derived `Deserialize` ("must be an object, got string" otherwise; with
/// a phrase first, "must be PHRASE" whatever came instead).
macro_rules! expect_object {
    ($($t:ty),* $(,)?) => {$(
        impl<'de> $crate::api::wire::expect::Expect<'de> for $t {
            const EXPECTED: &'static str = "an object";

            fn from_map<A: serde::de::MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
                $crate::api::wire::expect::object(map)
            }
        }
    )*};
    ($phrase:literal; $($t:ty),* $(,)?) => {$(
        impl<'de> $crate::api::wire::expect::Expect<'de> for $t {
            const EXPECTED: &'static str = $phrase;

            fn mismatch<E: serde::de::Error>(_: &str) -> E {
                E::custom(concat!("must be ", $phrase))
            }

            fn from_map<A: serde::de::MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
                $crate::api::wire::expect::object(map)
            }
        }
    )*};
}
pub(crate) use expect_object;

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "expect")]
        flag: Option<bool>,
        #[serde(default, deserialize_with = "expect")]
        count: Option<i128>,
        #[serde(default, deserialize_with = "expect")]
        words: Option<Vec<String>>,
    }

    fn probe(v: Value) -> Result<Probe, String> {
        let Value::Object(m) = v else { panic!() };
        serde_path_to_error::deserialize(&m).map_err(|e| format!("{} {}", e.path(), e.inner()))
    }

    #[test]
    fn kinds_are_named_in_our_words() {
        assert_eq!(
            probe(json!({"flag": "yes"})).unwrap_err(),
            "flag must be a boolean, got string"
        );
        assert_eq!(
            probe(json!({"count": 1.5})).unwrap_err(),
            "count must be an integer, got number"
        );
        assert_eq!(
            probe(json!({"words": ["a", null]})).unwrap_err(),
            "words[1] must be a string, got null"
        );
        assert_eq!(
            probe(json!({"words": {}})).unwrap_err(),
            "words must be an array, got object"
        );
    }

    #[test]
    fn null_is_absent_and_integral_floats_are_integers() {
        let p = probe(json!({"flag": null, "count": 100.0, "other": [1]})).unwrap();
        assert_eq!((p.flag, p.count, p.words), (None, Some(100), None));
        assert_eq!(
            probe(json!({"count": 1e300})).unwrap_err(),
            "count must be an integer, got number"
        );
    }
}
