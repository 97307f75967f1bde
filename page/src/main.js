// The upload page: Uppy's Dashboard sends each file through the API's Companion-compatible S3 routes;
// this module only wires Uppy up and, after Uppy's success, shows the server's verdict for each file.
import AwsS3 from "@uppy/aws-s3";
import Uppy from "@uppy/core";
import Dashboard from "@uppy/dashboard";
import GoldenRetriever from "@uppy/golden-retriever";
import "@uppy/core/css/style.min.css";
import "@uppy/dashboard/css/style.min.css";
import "./page.css";
import { getJson } from "./api.js";
import { withApiReasons } from "./errors.js";
import { objects, wireObjects } from "./objects.js";
import { Verdicts } from "./verdicts.js";

const MIB = 1024 * 1024;
// Above this Uppy sends the file in 5 MiB parts: each part survives a pause, a failure or a reload.
// Uppy's own default is 100 MiB; a page on a slow link wants resumable uploads much earlier.
const MULTIPART_ABOVE = 10 * MIB;

// The API's own bounds (GET /s3/limits): its POST form takes at most single_max_size bytes, so a file
// above that must go in parts whatever the page prefers.
async function limits() {
  try {
    return await getJson("/s3/limits");
  } catch (_) {
    return {};
  }
}

async function start() {
  withApiReasons(window.location.origin);
  const { single_max_size: singleMax = Infinity } = await limits();
  const multipartAbove = Math.min(MULTIPART_ABOVE, singleMax);
  const uppy = new Uppy({ id: "landing", autoProceed: true });
  uppy.use(Dashboard, {
    inline: true,
    target: "#uppy",
    height: 360,
    width: "100%",
    proudlyDisplayPoweredByUppy: false,
    note: "Files go straight to S3; the server decides on each one afterwards.",
  });
  // The API answers at this page's origin; same-origin requests carry its cookies (docs/uppy.md).
  uppy.use(AwsS3, {
    companionEndpoint: window.location.origin,
    shouldUseMultipart: (file) => (file.size ?? 0) > multipartAbove,
  });
  // Remembers each file and its multipart upload id, so a reload resumes from the parts S3 holds.
  uppy.use(GoldenRetriever);

  const verdicts = new Verdicts(document.querySelector("#uploads"), () => objects.load(objects.current()));
  uppy.on("upload", (_id, files) => files.forEach((file) => verdicts.sending(file)));
  uppy.on("upload-success", (file, response) => verdicts.sent(file, response.body.key));
  uppy.on("upload-error", (file, error) => verdicts.failed(file, error));
  uppy.on("file-removed", (file) => verdicts.cancelled(file));
  uppy.on("restored", () => uppy.getFiles().forEach((file) => verdicts.restored(file)));
  uppy.on("file-added", (file) => verdicts.chosenAgain(file));
  window.landingUppy = uppy; // for the browser tests and for poking at it from the console

  wireObjects();
}

document.addEventListener("DOMContentLoaded", start);
