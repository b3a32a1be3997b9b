/** Process entry for `npm start`: the server with settings from the environment. */
import { serve } from './server.js';

await serve();
