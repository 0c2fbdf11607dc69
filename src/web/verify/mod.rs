//! Verifying a number, as screens: the form (`/verify`) with a live preview of the number
//! (`start`), and the code page (`/verify/{id}`) with entering the code, sending a new one and
//! cancelling (`code`).

mod code;
mod start;

pub use code::{cancel, resend, show, submit_code};
pub use start::{form, preview, start};

use crate::{verify::Person, web::extract::CurrentUser};

/// The signed-in person, as the verification steps record them.
fn person(me: &CurrentUser, meta: crate::audit::RequestMeta) -> Person {
    Person {
        id: me.user.id,
        name: me.user.username.clone(),
        meta,
    }
}
