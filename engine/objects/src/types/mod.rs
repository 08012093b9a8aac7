//! Distributed types: what an object offers, what an opener requires, and the check that
//! an incompatible open fails before any traffic flows.
//!
//! A type is a tuple of aspects: the [`Interface`] (endpoints, each carrying named events),
//! the [`Category`] (event stream, replicated variable, ...), and the [`Properties`] the
//! driver must provide ([`Reliability`] and [`Security`]). An object offers an
//! [`ObjectType`] — its class's interface and its driver's properties; an opener states a
//! [`TypeRequirement`] — the category, the endpoints and events it will use (a subset is
//! fine) and the weakest properties it accepts. [`check`] compares the two.
//!
//! ```
//! use argent_objects::types::{check, Category, ObjectType, Reliability, TypeRequirement};
//!
//! let balance = ObjectType::for_class("replicated-var", "qsm")?;
//! let reader = TypeRequirement::new(Category::ReplicatedVar).uses("updates", &["set"]);
//! assert!(check(&reader, &balance).is_ok());
//!
//! // QSM orders each sender's updates, not all of them: a total-order opener is refused.
//! let ledger = reader.reliability(Reliability::TotalOrder);
//! let error = check(&ledger, &balance).unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "type mismatch: the opener requires reliability total-order, \
//!      but driver \"qsm\" provides reliable-fifo"
//! );
//! # Ok::<(), argent_objects::types::TypeError>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::reference::{ObjectId, Reference};

/// A typed event channel of an object: its name and the event types it carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    /// The endpoint's name, e.g. `updates`.
    pub name: String,
    /// The names of the event types it carries, e.g. `set`.
    pub events: Vec<String>,
}

impl Endpoint {
    /// An endpoint carrying `events`.
    pub fn new(name: impl Into<String>, events: &[&str]) -> Self {
        Endpoint { name: name.into(), events: events.iter().map(|&e| e.to_owned()).collect() }
    }

    /// Whether the endpoint carries the event type `event`.
    pub fn carries(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

/// `name(event, event)`, e.g. `updates(put, remove)`.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name, self.events.join(", "))
    }
}

/// The endpoints of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Interface {
    /// The endpoints, each named once.
    pub endpoints: Vec<Endpoint>,
}

impl Interface {
    /// The endpoint called `name`.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }
}

/// `endpoints a(x), b(y, z)`, or `no endpoints`.
impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.endpoints.is_empty() {
            return f.write_str("no endpoints");
        }
        f.write_str("endpoints ")?;
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{endpoint}")?;
        }
        Ok(())
    }
}

/// The kind of an object; its name is the class of built-in objects in references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Events sent and received in order: endpoint `events` carrying `event`.
    EventStream,
    /// A single value with get/set: endpoint `updates` carrying `set`.
    ReplicatedVar,
    /// A key-value map: endpoint `updates` carrying `put` and `remove`.
    ReplicatedMap,
    /// Posted messages and their history: endpoint `messages` carrying `post`.
    Chat,
    /// An object made of parts, with no endpoints of its own.
    Composite,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 5] = [
        Category::EventStream,
        Category::ReplicatedVar,
        Category::ReplicatedMap,
        Category::Chat,
        Category::Composite,
    ];

    /// The category's name, which is also the built-in class name (e.g. `replicated-var`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::EventStream => "event-stream",
            Category::ReplicatedVar => "replicated-var",
            Category::ReplicatedMap => "replicated-map",
            Category::Chat => "chat",
            Category::Composite => "composite",
        }
    }

    /// The category of a built-in class.
    pub fn from_class(class: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == class)
    }

    /// The interface every object of this built-in category has.
    pub fn interface(self) -> Interface {
        let endpoints = match self {
            Category::EventStream => vec![Endpoint::new("events", &["event"])],
            Category::ReplicatedVar => vec![Endpoint::new("updates", &["set"])],
            Category::ReplicatedMap => vec![Endpoint::new("updates", &["put", "remove"])],
            Category::Chat => vec![Endpoint::new("messages", &["post"])],
            Category::Composite => Vec::new(),
        };
        Interface { endpoints }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The delivery guarantee of a driver, weakest first: a stronger one satisfies a
/// requirement for a weaker one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reliability {
    /// Messages may be lost, duplicated or reordered.
    #[default]
    BestEffort,
    /// Each sender's messages are delivered exactly once and in the order it sent them.
    ReliableFifo,
    /// Every member delivers all messages in the same order.
    TotalOrder,
    /// Total order, and membership changes are delivered at the same point everywhere.
    VirtualSynchrony,
}

impl Reliability {
    /// The name, e.g. `reliable-fifo`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reliability::BestEffort => "best-effort",
            Reliability::ReliableFifo => "reliable-fifo",
            Reliability::TotalOrder => "total-order",
            Reliability::VirtualSynchrony => "virtual-synchrony",
        }
    }
}

impl fmt::Display for Reliability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a driver guarantees about who sent a message and who can read it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Security {
    /// Only holders of the object's key can send messages members accept.
    pub authenticated: bool,
    /// Only holders of the object's key can read messages.
    pub encrypted: bool,
}

impl Security {
    /// Whether these guarantees include all of `required`.
    pub fn satisfies(&self, required: &Security) -> bool {
        (self.authenticated || !required.authenticated) && (self.encrypted || !required.encrypted)
    }
}

/// `authentication without encryption`, etc.
impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.authenticated, self.encrypted) {
            (true, true) => "authentication and encryption",
            (true, false) => "authentication without encryption",
            (false, true) => "encryption without authentication",
            (false, false) => "neither authentication nor encryption",
        })
    }
}

/// The properties a driver provides, or the weakest an opener accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Properties {
    /// The delivery guarantee.
    pub reliability: Reliability,
    /// Authentication and encryption.
    pub security: Security,
}

impl Properties {
    /// Whether these properties are at least as strong as `required` in every aspect.
    pub fn satisfies(&self, required: &Properties) -> bool {
        self.reliability >= required.reliability && self.security.satisfies(&required.security)
    }
}

/// Names of the drivers [`DriverInfo::lookup`] knows.
pub const KNOWN_DRIVERS: &[&str] = &["qsm"];

/// The reference parameter that makes an object authenticated, and its value.
pub const AUTH_PARAMETER: &str = "auth";
/// `auth = "key"`: a per-object key, held by every process allowed to join.
pub const AUTH_KEY: &str = "key";

/// What a driver provides to the objects it carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DriverInfo {
    /// The driver's name as written in references.
    pub name: &'static str,
    /// The properties it provides.
    pub properties: Properties,
}

impl DriverInfo {
    /// QuickSilver Scalable Multicast: each sender's messages reliably and in order, no
    /// order across senders. Not authenticated (yet: updates are not signed with the
    /// object's key), not encrypted.
    pub fn qsm() -> Self {
        DriverInfo {
            name: "qsm",
            properties: Properties {
                reliability: Reliability::ReliableFifo,
                security: Security { authenticated: false, encrypted: false },
            },
        }
    }

    /// The known driver called `name`.
    pub fn lookup(name: &str) -> Option<Self> {
        match name {
            "qsm" => Some(Self::qsm()),
            _ => None,
        }
    }
}

/// The properties of the known driver called `name`.
pub fn driver_properties(name: &str) -> Option<Properties> {
    DriverInfo::lookup(name).map(|d| d.properties)
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

/// What an opener requires: the category, the endpoints and events it will use, and the
/// weakest properties it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeRequirement {
    /// The category the opener is written for.
    pub category: Category,
    /// The endpoints it uses, each with the events it uses (an endpoint may list none).
    pub uses: Vec<Endpoint>,
    /// The weakest properties it accepts.
    pub minimum: Properties,
}

impl TypeRequirement {
    /// Requires `category` only: no endpoints, best-effort, no security.
    pub fn new(category: Category) -> Self {
        TypeRequirement { category, uses: Vec::new(), minimum: Properties::default() }
    }

    /// Requires `category` and its whole built-in interface.
    pub fn whole(category: Category) -> Self {
        TypeRequirement { uses: category.interface().endpoints, ..Self::new(category) }
    }

    /// Adds the use of `events` on `endpoint`.
    pub fn uses(mut self, endpoint: &str, events: &[&str]) -> Self {
        let events = events.iter().map(|&e| e.to_owned());
        match self.uses.iter_mut().find(|e| e.name == endpoint) {
            Some(existing) => existing.events.extend(events),
            None => self.uses.push(Endpoint { name: endpoint.to_owned(), events: events.collect() }),
        }
        self
    }

    /// Requires at least `reliability`.
    pub fn reliability(mut self, reliability: Reliability) -> Self {
        self.minimum.reliability = reliability;
        self
    }

    /// Requires authenticated messages.
    pub fn authenticated(mut self) -> Self {
        self.minimum.security.authenticated = true;
        self
    }

    /// Requires encrypted messages.
    pub fn encrypted(mut self) -> Self {
        self.minimum.security.encrypted = true;
        self
    }
}

/// Checks that an object offering `offered` can be opened as `required`: same category,
/// every used endpoint and event present, every property at least as strong.
pub fn check(required: &TypeRequirement, offered: &ObjectType) -> Result<(), TypeError> {
    if required.category != offered.category {
        return Err(TypeError::Category {
            required: required.category,
            offered: offered.category,
            class: offered.class.clone(),
            object: offered.object,
        });
    }
    check_interface(required, offered)?;
    check_properties(&required.minimum, offered)
}

fn check_interface(required: &TypeRequirement, offered: &ObjectType) -> Result<(), TypeError> {
    for used in &required.uses {
        let endpoint = offered.interface.endpoint(&used.name);
        let missing_event = match endpoint {
            None => Some(used.events.first().cloned()),
            Some(endpoint) => used.events.iter().find(|e| !endpoint.carries(e)).cloned().map(Some),
        };
        if let Some(event) = missing_event {
            return Err(TypeError::Interface {
                endpoint: used.name.clone(),
                event,
                class: offered.class.clone(),
                object: offered.object,
                offered: Box::new(offered.interface.clone()),
            });
        }
    }
    Ok(())
}

fn check_properties(required: &Properties, offered: &ObjectType) -> Result<(), TypeError> {
    let provided = &offered.properties;
    if provided.reliability < required.reliability {
        return Err(TypeError::Reliability {
            required: required.reliability,
            offered: provided.reliability,
            driver: offered.driver.clone(),
            object: offered.object,
        });
    }
    let missing = if required.security.authenticated && !provided.security.authenticated {
        Some(SecurityAspect::Authentication)
    } else if required.security.encrypted && !provided.security.encrypted {
        Some(SecurityAspect::Encryption)
    } else {
        None
    };
    match missing {
        Some(required) => Err(TypeError::Security {
            required,
            offered: provided.security,
            driver: offered.driver.clone(),
            object: offered.object,
        }),
        None => Ok(()),
    }
}

/// One aspect of [`Security`], as named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityAspect {
    /// Authenticated messages.
    Authentication,
    /// Encrypted messages.
    Encryption,
}

impl fmt::Display for SecurityAspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecurityAspect::Authentication => "authentication",
            SecurityAspect::Encryption => "encryption",
        })
    }
}

/// An object cannot be opened as required; the message names both sides.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TypeError {
    /// The class is not a built-in one.
    #[error(
        "unknown class {class:?} (built-in classes: event-stream, replicated-var, \
         replicated-map, chat, composite)"
    )]
    UnknownClass {
        /// The class as written.
        class: String,
    },
    /// The driver is not a known one.
    #[error("unknown driver {driver:?} (known drivers: {})", KNOWN_DRIVERS.join(", "))]
    UnknownDriver {
        /// The driver as written.
        driver: String,
    },
    /// The object is of another category.
    #[error(
        "type mismatch: the opener requires category {required}, but class {class:?}{} \
         is category {offered}",
        of_object(.object)
    )]
    Category {
        /// What the opener requires.
        required: Category,
        /// What the object is.
        offered: Category,
        /// The object's class.
        class: String,
        /// The object's id, when known.
        object: Option<ObjectId>,
    },
    /// The object lacks an endpoint, or an event on an endpoint, the opener uses.
    #[error(
        "type mismatch: the opener uses endpoint {endpoint:?}{}, but class {class:?}{} \
         has {offered}",
        event_phrase(.event),
        of_object(.object)
    )]
    Interface {
        /// The endpoint the opener uses.
        endpoint: String,
        /// The event missing on it (`None` when the endpoint is missing and the opener
        /// named no events on it).
        event: Option<String>,
        /// The object's class.
        class: String,
        /// The object's id, when known.
        object: Option<ObjectId>,
        /// The object's interface (boxed: it is the largest field).
        offered: Box<Interface>,
    },
    /// The driver's delivery guarantee is weaker than required.
    #[error(
        "type mismatch: the opener requires reliability {required}, but driver {driver:?}{} \
         provides {offered}",
        of_object(.object)
    )]
    Reliability {
        /// What the opener requires.
        required: Reliability,
        /// What the driver provides.
        offered: Reliability,
        /// The object's driver.
        driver: String,
        /// The object's id, when known.
        object: Option<ObjectId>,
    },
    /// The driver lacks a security aspect the opener requires.
    #[error(
        "type mismatch: the opener requires {required}, but driver {driver:?}{} provides \
         {offered}",
        of_object(.object)
    )]
    Security {
        /// The aspect the opener requires and the driver lacks.
        required: SecurityAspect,
        /// What the driver provides.
        offered: Security,
        /// The object's driver.
        driver: String,
        /// The object's id, when known.
        object: Option<ObjectId>,
    },
}

/// ` of object ID`, or nothing when the id is unknown.
fn of_object(object: &Option<ObjectId>) -> String {
    object.map(|id| format!(" of object {id}")).unwrap_or_default()
}

/// ` event "NAME"`, or nothing.
fn event_phrase(event: &Option<String>) -> String {
    event.as_ref().map(|e| format!(" event {e:?}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: ObjectId = ObjectId(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);

    fn offered(class: &str) -> ObjectType {
        ObjectType::for_class(class, "qsm").unwrap().with_object(ID)
    }

    fn mismatch(required: &TypeRequirement, offered: &ObjectType) -> String {
        check(required, offered).unwrap_err().to_string()
    }

    #[test]
    fn built_in_classes_have_their_interfaces() {
        let shown: Vec<String> = Category::ALL.iter().map(|c| format!("{c}: {}", c.interface())).collect();
        assert_eq!(
            shown,
            [
                "event-stream: endpoints events(event)",
                "replicated-var: endpoints updates(set)",
                "replicated-map: endpoints updates(put, remove)",
                "chat: endpoints messages(post)",
                "composite: no endpoints",
            ]
        );
        for category in Category::ALL {
            assert_eq!(Category::from_class(category.as_str()), Some(category));
            let json = serde_json::to_string(&category).unwrap();
            assert_eq!(json, format!("\"{category}\""));
        }
        assert_eq!(Category::from_class("Chat"), None);
    }

    #[test]
    fn reliability_is_ordered_weakest_first() {
        use Reliability::*;
        assert!(BestEffort < ReliableFifo && ReliableFifo < TotalOrder);
        assert!(TotalOrder < VirtualSynchrony);
        assert_eq!(serde_json::to_string(&VirtualSynchrony).unwrap(), "\"virtual-synchrony\"");
        assert_eq!(serde_json::from_str::<Reliability>("\"total-order\"").unwrap(), TotalOrder);
    }

    #[test]
    fn qsm_is_reliable_fifo_neither_authenticated_nor_encrypted() {
        let qsm = DriverInfo::qsm();
        assert_eq!(qsm.name, "qsm");
        assert_eq!(qsm.properties.reliability, Reliability::ReliableFifo);
        assert_eq!(qsm.properties.security, Security { authenticated: false, encrypted: false });
        assert_eq!(driver_properties("qsm"), Some(qsm.properties));
        assert_eq!(driver_properties("tcp"), None);
        assert_eq!(DriverInfo::lookup("qsm"), Some(qsm));
    }

    #[test]
    fn compatible_opens_pass() {
        let var = offered("replicated-var");
        assert_eq!(check(&TypeRequirement::new(Category::ReplicatedVar), &var), Ok(()));
        assert_eq!(check(&TypeRequirement::whole(Category::ReplicatedVar), &var), Ok(()));
        let reader = TypeRequirement::new(Category::ReplicatedVar)
            .uses("updates", &["set"])
            .reliability(Reliability::ReliableFifo);
        assert_eq!(check(&reader, &var), Ok(()));
        // A subset of the interface, and an endpoint used without naming events.
        let map = offered("replicated-map");
        let remover = TypeRequirement::new(Category::ReplicatedMap).uses("updates", &["remove"]);
        assert_eq!(check(&remover, &map), Ok(()));
        let watcher = TypeRequirement::new(Category::ReplicatedMap).uses("updates", &[]);
        assert_eq!(check(&watcher, &map), Ok(()));
        for category in Category::ALL {
            let whole = TypeRequirement::whole(category).reliability(Reliability::BestEffort);
            assert_eq!(check(&whole, &offered(category.as_str())), Ok(()), "{category}");
        }
    }

    #[test]
    fn uses_merges_events_on_one_endpoint() {
        let required = TypeRequirement::new(Category::ReplicatedMap)
            .uses("updates", &["put"])
            .uses("updates", &["remove"]);
        assert_eq!(required.uses, vec![Endpoint::new("updates", &["put", "remove"])]);
    }

    #[test]
    fn a_category_mismatch_names_both_sides() {
        let required = TypeRequirement::new(Category::Chat);
        assert_eq!(
            mismatch(&required, &offered("replicated-var")),
            "type mismatch: the opener requires category chat, but class \"replicated-var\" \
             of object 0123456789abcdef0123456789abcdef is category replicated-var"
        );
    }

    #[test]
    fn a_missing_endpoint_or_event_names_both_sides() {
        // The category matches but the interface does not: a requirement written by hand.
        let chat = offered("chat");
        let wrong_endpoint = TypeRequirement::new(Category::Chat).uses("updates", &["set"]);
        assert_eq!(
            mismatch(&wrong_endpoint, &chat),
            "type mismatch: the opener uses endpoint \"updates\" event \"set\", but class \
             \"chat\" of object 0123456789abcdef0123456789abcdef has endpoints messages(post)"
        );
        let no_events = TypeRequirement::new(Category::Chat).uses("history", &[]);
        assert_eq!(
            mismatch(&no_events, &chat),
            "type mismatch: the opener uses endpoint \"history\", but class \"chat\" of object \
             0123456789abcdef0123456789abcdef has endpoints messages(post)"
        );
        let wrong_event = TypeRequirement::new(Category::ReplicatedMap).uses("updates", &["put", "clear"]);
        assert_eq!(
            mismatch(&wrong_event, &offered("replicated-map")),
            "type mismatch: the opener uses endpoint \"updates\" event \"clear\", but class \
             \"replicated-map\" of object 0123456789abcdef0123456789abcdef has endpoints \
             updates(put, remove)"
        );
        let composite = TypeRequirement::new(Category::Composite).uses("events", &["event"]);
        let e = check(&composite, &offered("composite")).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("class \"composite\" of object 0123456789abcdef0123456789abcdef has no endpoints"),
            "{e}"
        );
        assert!(
            matches!(e, TypeError::Interface { ref endpoint, event: Some(_), .. } if endpoint == "events")
        );
    }

    #[test]
    fn requiring_total_order_from_qsm_fails() {
        let ledger = TypeRequirement::whole(Category::ReplicatedVar).reliability(Reliability::TotalOrder);
        assert_eq!(
            mismatch(&ledger, &offered("replicated-var")),
            "type mismatch: the opener requires reliability total-order, but driver \"qsm\" of \
             object 0123456789abcdef0123456789abcdef provides reliable-fifo"
        );
        let view = TypeRequirement::new(Category::Chat).reliability(Reliability::VirtualSynchrony);
        let e = check(&view, &offered("chat")).unwrap_err();
        assert_eq!(
            e,
            TypeError::Reliability {
                required: Reliability::VirtualSynchrony,
                offered: Reliability::ReliableFifo,
                driver: "qsm".into(),
                object: Some(ID),
            }
        );
    }

    #[test]
    fn missing_security_names_both_sides() {
        let secret = TypeRequirement::new(Category::Chat).authenticated().encrypted();
        let mut signing_driver = offered("chat");
        signing_driver.properties.security = Security { authenticated: true, encrypted: false };
        assert_eq!(
            mismatch(&secret, &signing_driver),
            "type mismatch: the opener requires encryption, but driver \"qsm\" of object \
             0123456789abcdef0123456789abcdef provides authentication without encryption"
        );
        let mut open_driver = ObjectType::for_class("chat", "qsm").unwrap();
        open_driver.properties.security = Security::default();
        let signed = TypeRequirement::new(Category::Chat).authenticated();
        assert_eq!(
            mismatch(&signed, &open_driver),
            "type mismatch: the opener requires authentication, but driver \"qsm\" provides \
             neither authentication nor encryption"
        );
        assert!(Security { authenticated: true, encrypted: true }.satisfies(&secret.minimum.security));
    }

    #[test]
    fn unknown_classes_and_drivers_are_type_errors() {
        assert_eq!(
            ObjectType::for_class("whiteboard", "qsm").unwrap_err().to_string(),
            "unknown class \"whiteboard\" (built-in classes: event-stream, replicated-var, \
             replicated-map, chat, composite)"
        );
        assert_eq!(
            ObjectType::for_class("chat", "tcp").unwrap_err().to_string(),
            "unknown driver \"tcp\" (known drivers: qsm)"
        );
    }

    #[test]
    fn a_reference_names_its_object_in_errors() {
        let reference: Reference =
            "argent://0123456789abcdef0123456789abcdef?v=1&class=chat&driver=qsm".parse().unwrap();
        let offered = ObjectType::for_reference(&reference).unwrap();
        assert_eq!(offered.object, Some(ID));
        assert_eq!((offered.class.as_str(), offered.driver.as_str()), ("chat", "qsm"));
        assert_eq!(check(&TypeRequirement::whole(Category::Chat), &offered), Ok(()));
        let wanted = TypeRequirement::new(Category::EventStream);
        assert!(mismatch(&wanted, &offered).contains("of object 0123456789abcdef0123456789abcdef"));
    }
}
