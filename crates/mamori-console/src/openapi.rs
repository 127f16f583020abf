//! The OpenAPI 3.1 description of `/api/v1`, served at `/api/v1/openapi.json`.

pub const DOCUMENT: &str = include_str!("openapi.json");

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_json_and_lists_every_api_route() {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for r in crate::routes::ROUTES
            .iter()
            .filter(|r| r.path.starts_with("/api/v1/"))
        {
            let path = r.path.trim_start_matches("/api/v1");
            let entry = &doc["paths"][path][r.method];
            assert!(
                entry.is_object(),
                "{} {} is not in openapi.json",
                r.method,
                r.path
            );
        }
    }
}
