// Progressive enhancement of the agency pages (error summary focus, file upload); they work without it.
import { initAll } from "/static/govuk-frontend/govuk-frontend.min.js";

initAll();
