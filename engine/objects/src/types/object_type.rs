//! What an object offers: the type of a built-in class carried by a known driver.

use crate::reference::{ObjectId, Reference};

use super::category::Category;
use super::driver::driver_properties;
use super::error::TypeError;
use super::interface::Interface;
use super::properties::Properties;

/// The reference parameter that makes an object authenticated, and its value.
pub const AUTH_PARAMETER: &str = "auth";
/// `auth = "key"`: a per-object key, held by every process allowed to join.
pub const AUTH_KEY: &str = "key";

/// What an object offers: its class's category and interface, its driver's properties,
/// and, for error messages, its class, driver and (when known) id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectType {
    /// The object's category.
    pub category: Category,
    /// The object's endpoints.
    pub interface: Interface,
    /// What the object's driver provides.
    pub properties: Properties,
    /// The object's class, as in its reference.
    pub class: String,
    /// The object's driver, as in its reference.
    pub driver: String,
    /// The object's id, when known.
    pub object: Option<ObjectId>,
}

impl ObjectType {
    /// The type of an object of a built-in class carried by a known driver.
    pub fn for_class(class: &str, driver: &str) -> Result<Self, TypeError> {
        let category =
            Category::from_class(class).ok_or_else(|| TypeError::UnknownClass { class: class.to_owned() })?;
        let properties = driver_properties(driver)
            .ok_or_else(|| TypeError::UnknownDriver { driver: driver.to_owned() })?;
        Ok(ObjectType {
            category,
            interface: category.interface(),
            properties,
            class: class.to_owned(),
            driver: driver.to_owned(),
            object: None,
        })
    }

    /// The type of the object a reference describes (its own, not its parts'). An object
    /// whose reference says `auth = "key"` (parameters) is authenticated by the object layer
    /// over any driver: every frame carries a MAC under the object's key.
    pub fn for_reference(reference: &Reference) -> Result<Self, TypeError> {
        let mut t = Self::for_class(&reference.class, &reference.driver.name)?.with_object(reference.id);
        if reference.parameters.get(AUTH_PARAMETER).map(String::as_str) == Some(AUTH_KEY) {
            t.properties.security.authenticated = true;
        }
        Ok(t)
    }

    /// Names the object in error messages.
    pub fn with_object(mut self, id: ObjectId) -> Self {
        self.object = Some(id);
        self
    }
}
