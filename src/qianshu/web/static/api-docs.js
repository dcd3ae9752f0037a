// Starts Swagger UI on /api/docs. A file of ours, not an inline script, so that the portal's
// Content-Security-Policy (script-src 'self') allows it. Swagger UI itself comes from the
// fastapi-swagger package (served at /static/swagger/); nothing is fetched from outside.
(function () {
  "use strict";
  var root = document.getElementById("api-reference");
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    domNode: root,
    deepLinking: true,
    // The default asks validator.swagger.io to check the document: no request leaves the server.
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    persistAuthorization: false,
    tryItOutEnabled: false,
    filter: true,
  });
})();
