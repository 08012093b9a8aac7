//! The check that an object can be opened as required, before any traffic flows.

use super::error::TypeError;
use super::object_type::ObjectType;
use super::properties::{Properties, SecurityAspect};
use super::requirement::TypeRequirement;

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
    check_class_needs(offered)?;
    check_properties(&required.minimum, offered)
}

/// The class's own operations need an order the driver may not give (a counter's
/// conditional decrement on a driver without total order), whatever the opener asked.
fn check_class_needs(offered: &ObjectType) -> Result<(), TypeError> {
    let needs = offered.category.needs();
    if offered.properties.reliability < needs {
        return Err(TypeError::ClassNeeds {
            class: offered.class.clone(),
            needs,
            driver: offered.driver.clone(),
            offered: offered.properties.reliability,
            object: offered.object,
        });
    }
    Ok(())
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
