package api

import _ "embed"

// openAPI is the OpenAPI 3 description of the API, served at
// /api/v1/openapi.json. TestOpenAPIMatchesRouter keeps it in step with
// routes().
//
//go:embed openapi.json
var openAPI []byte
