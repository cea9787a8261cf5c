// The API's documentation page (/docs): Swagger UI from the package, reading /openapi.json.
// A plain script, not inline: the Content-Security-Policy allows no inline script. The
// validator badge is off (it would fetch from validator.swagger.io).
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
