/** mulberry32 for test data: the project's one definition (src/engine/prng.ts), under the name the tests use. */
export { mulberry32 as prng } from "../../src/engine/prng.js";
