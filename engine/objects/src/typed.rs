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

use crate::object::{Chat, EventStream, LiveObject, ReplicatedMap, ReplicatedVar};
use crate::reference::{ObjectId, Reference};
use crate::types::{Category, DriverInfo, TypeRequirement, AUTH_KEY, AUTH_PARAMETER, VALUE_TYPE_PARAMETER};

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

impl Reference {
    /// A reference to object `id` of the built-in kind `O`, carried by the qsm driver.
    pub fn of<O: BuiltIn>(id: ObjectId) -> Reference {
        let r = Reference::new(id, O::CATEGORY.as_str(), DriverInfo::qsm().name);
        match O::VALUE_TYPE {
            Some(v) => r.with_parameter(VALUE_TYPE_PARAMETER, v),
            None => r,
        }
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
}
