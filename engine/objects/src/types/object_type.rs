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
/// The reference parameter naming the type of a value (of a variable, a map's values, a
/// stream's events).
pub const VALUE_TYPE_PARAMETER: &str = "value_type";
/// The value types built-in objects carry.
pub const VALUE_TYPES: &[&str] = &["i64", "f64", "bool", "string"];
/// The reference parameter that keeps an object's state on the disks of the nodes that hold
/// it (a checkpoint and a log, fsynced), so that it outlives its last proxy.
pub const DURABLE_PARAMETER: &str = "durable";
/// The values [`DURABLE_PARAMETER`] takes.
pub const DURABLE_VALUES: &[&str] = &["true", "false"];

/// The parameters a reference of `category` may carry: anything else is a misspelling
/// (`TypeError::UnknownParameter`), caught before any traffic.
pub fn known_parameters(category: Category) -> &'static [&'static str] {
    match category {
        // A stream has no state to keep.
        Category::EventStream => &[VALUE_TYPE_PARAMETER, AUTH_PARAMETER],
        Category::ReplicatedVar | Category::ReplicatedLog => {
            &[VALUE_TYPE_PARAMETER, AUTH_PARAMETER, DURABLE_PARAMETER]
        }
        // `role = "directory"` marks a directory.
        Category::ReplicatedMap => &[VALUE_TYPE_PARAMETER, AUTH_PARAMETER, "role", DURABLE_PARAMETER],
        // A chat carries text; `value_type` is accepted (and ignored): older `argent obj new`
        // wrote it for every class.
        Category::Chat => &[AUTH_PARAMETER, VALUE_TYPE_PARAMETER, DURABLE_PARAMETER],
        Category::Composite => &[AUTH_PARAMETER],
        Category::Counter | Category::Lock => &[AUTH_PARAMETER, DURABLE_PARAMETER],
    }
}

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
    /// Its state is kept on the disks of the nodes that hold it ([`DURABLE_PARAMETER`]).
    pub durable: bool,
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
            durable: false,
        })
    }

    /// The type of the object a reference describes (its own, not its parts'). An object
    /// whose reference says `auth = "key"` (parameters) is authenticated by the object layer
    /// over any driver: every frame carries a MAC under the object's key.
    ///
    /// Every parameter must be one the class knows ([`known_parameters`]) and every driver
    /// setting one the driver knows, with a value it accepts: a misspelt key fails here,
    /// naming it and the known ones, instead of at open with a confusing error.
    pub fn for_reference(reference: &Reference) -> Result<Self, TypeError> {
        let mut t = Self::for_class(&reference.class, &reference.driver.name)?.with_object(reference.id);
        let object = Some(reference.id);
        let known = known_parameters(t.category);
        for (key, value) in &reference.parameters {
            if !known.contains(&key.as_str()) {
                return Err(TypeError::UnknownParameter {
                    key: key.clone(),
                    class: reference.class.clone(),
                    known,
                    object,
                });
            }
            let expected: &'static [&'static str] = match key.as_str() {
                AUTH_PARAMETER => &[AUTH_KEY],
                VALUE_TYPE_PARAMETER => VALUE_TYPES,
                DURABLE_PARAMETER => DURABLE_VALUES,
                _ => &[],
            };
            if !expected.is_empty() && !expected.contains(&value.as_str()) {
                return Err(TypeError::BadParameter {
                    key: key.clone(),
                    value: value.clone(),
                    expected,
                    object,
                });
            }
        }
        let settings =
            super::driver::DriverInfo::lookup(&reference.driver.name).map_or(&[][..], |d| d.settings);
        if let Some(key) = reference.driver.settings.keys().find(|k| !settings.contains(&k.as_str())) {
            return Err(TypeError::UnknownSetting {
                key: key.clone(),
                driver: reference.driver.name.clone(),
                known: settings,
                object,
            });
        }
        if reference.parameters.get(AUTH_PARAMETER).map(String::as_str) == Some(AUTH_KEY) {
            t.properties.security.authenticated = true;
        }
        t.durable = reference.parameters.get(DURABLE_PARAMETER).map(String::as_str) == Some("true");
        Ok(t)
    }

    /// Names the object in error messages.
    pub fn with_object(mut self, id: ObjectId) -> Self {
        self.object = Some(id);
        self
    }
}
