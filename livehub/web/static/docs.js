// The browsable HTTP API at /docs: Swagger UI (vendored in /static/vendor/swagger-ui/, no CDN) on the
// document the server generates from its routes (/openapi.json, livehub.web.openapi).

export function startDocs(element) {
  const SwaggerUIBundle = globalThis.SwaggerUIBundle;
  if (typeof SwaggerUIBundle !== "function") {
    element.textContent = "The API browser did not load; the document is at /openapi.json.";
    return null;
  }
  return SwaggerUIBundle({
    url: "/openapi.json",
    domNode: element,
    deepLinking: true,
    persistAuthorization: false, // a pasted token lives only as long as the page
    tryItOutEnabled: false,
    validatorUrl: null, // Swagger UI would otherwise ask validator.swagger.io about the document
  });
}
