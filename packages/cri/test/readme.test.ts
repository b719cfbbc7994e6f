// Runs the README's snippets as written (see test/support/readme-snippets.ts in @nodekit/cri).
// Snippets import the packages by name, which resolves to dist/: run `npm run build` first.
import { fileURLToPath } from "node:url";
import { describeReadmeSnippets } from "./support/readme-snippets.js";

await describeReadmeSnippets(fileURLToPath(new URL("..", import.meta.url)));
