//! The directory routes' part of `/openapi.json`: the paths, the schemas, the bearer scheme, and the participant body's schema (the participant's, `id` not required).

use super::*;

/// The directory routes' part of `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    paths(
        super::participants::put_participant,
        super::participants::get_participant,
        super::participants::erase,
        super::participants::export,
        super::participants::put_priority,
        super::participants::post_relationship,
        super::participants::delete_relationship,
        super::participants::post_topic,
        super::discovery::discovery,
        super::discovery::experts,
        super::requests::rating,
        super::requests::priority,
        super::requests::audit,
        super::requests::ask_contact,
        super::requests::list_contacts,
        super::requests::approve_contact,
        super::requests::decline_contact,
        super::discovery::federation_lookup,
        super::verify::domain_challenge,
        super::verify::verify_domain,
        super::verify::verify_oidc
    ),
    components(schemas(
        DirError,
        Participant,
        ParticipantBody,
        PrioritySettings,
        super::participants::RelationshipBody,
        super::participants::TopicBody,
        super::discovery::HintsBody,
        super::discovery::DiscoveryBody,
        super::requests::RatingBody,
        super::requests::PriorityBody,
        super::requests::AskBody,
        super::requests::AuditPage,
        super::verify::DomainBody,
        super::verify::OidcBody,
        ParticipantView,
        Candidate,
        Merged,
        PriorityDecision,
        ContactRequest,
        Export
    )),
    modifiers(&DocModifier)
)]
struct DirectoryDoc;

pub(super) struct DocModifier;

impl utoipa::Modify for DocModifier {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        use utoipa::openapi::{RefOr, Schema};
        let components = doc.components.get_or_insert_with(Default::default);
        if let Some(RefOr::T(Schema::Object(p))) = components.schemas.get("Participant") {
            let mut body = p.clone();
            body.required.retain(|r| r != "id");
            // The path gives the id: read-only here (sent, it must be the path's).
            if let Some(RefOr::T(Schema::Object(id))) = body.properties.get_mut("id") {
                id.read_only = Some(true);
            }
            body.description = Some(
                "A participant; `id` may be left out (it is the path's) and must be the path's when given."
                    .into(),
            );
            components
                .schemas
                .insert("ParticipantBody".into(), RefOr::T(Schema::Object(body)));
        }
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The directory routes' OpenAPI description.
pub(crate) fn openapi_doc() -> utoipa::openapi::OpenApi {
    DirectoryDoc::openapi()
}

/// The body of `PUT /v1/participants/{id}`: a [`Participant`] whose `id` may be left out (the path's). Only
/// its schema is used: [`DocModifier`]'s modifier replaces it with the participant's minus the required id.
#[derive(ToSchema)]
pub(super) struct ParticipantBody;
