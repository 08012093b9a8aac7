//! Typed references and requirements: each built-in kind names its class and value type,
//! so a program opens objects without string literals.
//!
//! ```
//! use argent_objects::object::ReplicatedVar;
//! use argent_objects::reference::{ObjectId, Reference};
//! use argent_objects::types::TypeRequirement;
//! let counter = Reference::of::<ReplicatedVar<i64>>(ObjectId(7)).in_group("objects");
//! assert_eq!(counter.class, "replicated-var");
//! assert_eq!(counter.parameters["value_type"], "i64");
//! let require = TypeRequirement::of::<ReplicatedVar<i64>>();
//! # let _ = require;
//! ```

use crate::object::{
    Chat, Counter, EventStream, LiveObject, Lock, ReplicatedLog, ReplicatedMap, ReplicatedVar,
};
use crate::reference::{ObjectId, Reference};
use crate::types::{
    Category, DriverInfo, Reliability, TypeRequirement, AUTH_KEY, AUTH_PARAMETER, DURABLE_PARAMETER,
    VALUE_TYPE_PARAMETER,
};

/// A value type built-in objects carry, by its name in references (`value_type`).
pub trait ValueKind {
    /// The name in references.
    const NAME: &'static str;
}

impl ValueKind for i64 {
    const NAME: &'static str = "i64";
}
impl ValueKind for f64 {
    const NAME: &'static str = "f64";
}
impl ValueKind for bool {
    const NAME: &'static str = "bool";
}
impl ValueKind for String {
    const NAME: &'static str = "string";
}

/// A built-in kind of object: its category (and class) and value type.
pub trait BuiltIn: LiveObject {
    /// The category; its class name is [`Category::as_str`].
    const CATEGORY: Category;
    /// The `value_type` parameter, for kinds that carry values.
    const VALUE_TYPE: Option<&'static str>;
}

impl<T: ValueKind> BuiltIn for ReplicatedVar<T>
where
    ReplicatedVar<T>: LiveObject,
{
    const CATEGORY: Category = Category::ReplicatedVar;
    const VALUE_TYPE: Option<&'static str> = Some(T::NAME);
}

impl<V: ValueKind> BuiltIn for ReplicatedMap<String, V>
where
    ReplicatedMap<String, V>: LiveObject,
{
    const CATEGORY: Category = Category::ReplicatedMap;
    const VALUE_TYPE: Option<&'static str> = Some(V::NAME);
}

impl<T: ValueKind> BuiltIn for EventStream<T>
where
    EventStream<T>: LiveObject,
{
    const CATEGORY: Category = Category::EventStream;
    const VALUE_TYPE: Option<&'static str> = Some(T::NAME);
}

impl BuiltIn for Chat {
    const CATEGORY: Category = Category::Chat;
    const VALUE_TYPE: Option<&'static str> = None;
}

impl<T: ValueKind> BuiltIn for ReplicatedLog<T>
where
    ReplicatedLog<T>: LiveObject,
{
    const CATEGORY: Category = Category::ReplicatedLog;
    const VALUE_TYPE: Option<&'static str> = Some(T::NAME);
}

impl BuiltIn for Counter {
    const CATEGORY: Category = Category::Counter;
    const VALUE_TYPE: Option<&'static str> = None;
}

impl BuiltIn for Lock {
    const CATEGORY: Category = Category::Lock;
    const VALUE_TYPE: Option<&'static str> = None;
}

impl Reference {
    /// A reference to object `id` of the built-in kind `O`, carried by the qsm driver — or,
    /// for the kinds that need total order ([`Category::needs`]), by the total-order driver.
    pub fn of<O: BuiltIn>(id: ObjectId) -> Reference {
        let driver = if O::CATEGORY.needs() >= Reliability::TotalOrder {
            DriverInfo::total_order().name
        } else {
            DriverInfo::qsm().name
        };
        let r = Reference::new(id, O::CATEGORY.as_str(), driver);
        match O::VALUE_TYPE {
            Some(v) => r.with_parameter(VALUE_TYPE_PARAMETER, v),
            None => r,
        }
    }

    /// Durable: the nodes that hold the object keep its state on disk (a checkpoint and a
    /// log, fsynced), and an open after every proxy closed or crashed restores it.
    pub fn durable(self) -> Reference {
        self.with_parameter(DURABLE_PARAMETER, "true")
    }

    /// Whether the reference says `durable = "true"`.
    pub fn is_durable(&self) -> bool {
        self.parameters.get(DURABLE_PARAMETER).is_some_and(|v| v == "true")
    }

    /// Carried by the node group `group` (otherwise, with the membership service, by a
    /// group of the object's own).
    pub fn in_group(self, group: &str) -> Reference {
        self.with_setting("group", group)
    }

    /// Authenticated: every process gives the object's key, every frame carries a MAC.
    pub fn authenticated(self) -> Reference {
        self.with_parameter(AUTH_PARAMETER, AUTH_KEY)
    }
}

impl TypeRequirement {
    /// Requires the whole type of the built-in kind `O`.
    pub fn of<O: BuiltIn>() -> TypeRequirement {
        TypeRequirement::whole(O::CATEGORY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ObjectType;

    #[test]
    fn typed_references_are_valid_and_name_their_kind() {
        let var = Reference::of::<ReplicatedVar<f64>>(ObjectId(1)).in_group("g").authenticated();
        let t = ObjectType::for_reference(&var).expect("valid");
        assert_eq!((t.category, var.parameters["value_type"].as_str()), (Category::ReplicatedVar, "f64"));
        assert!(t.properties.security.authenticated);
        let map = Reference::of::<ReplicatedMap<String, bool>>(ObjectId(2));
        assert_eq!((map.class.as_str(), map.parameters["value_type"].as_str()), ("replicated-map", "bool"));
        let chat = Reference::of::<Chat>(ObjectId(3));
        assert!(chat.parameters.is_empty() && ObjectType::for_reference(&chat).is_ok());
        let stream = Reference::of::<EventStream<String>>(ObjectId(4));
        assert_eq!(stream.parameters["value_type"], "string");
        assert_eq!(TypeRequirement::of::<Chat>(), TypeRequirement::whole(Category::Chat));
    }

    #[test]
    fn ordered_kinds_name_the_total_order_driver() {
        let log = Reference::of::<ReplicatedLog<String>>(ObjectId(5)).durable();
        assert_eq!((log.class.as_str(), log.driver.name.as_str()), ("replicated-log", "total-order"));
        assert!(log.is_durable() && ObjectType::for_reference(&log).unwrap().durable);
        for r in [Reference::of::<Counter>(ObjectId(6)), Reference::of::<Lock>(ObjectId(7))] {
            let t = ObjectType::for_reference(&r).unwrap();
            assert_eq!(r.driver.name, "total-order");
            assert!(crate::types::check(&TypeRequirement::whole(t.category), &t).is_ok());
            assert!(!r.is_durable());
        }
    }
}
