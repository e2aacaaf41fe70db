/** The one transformer, shared by server and clients: carries Date and bigint exactly. */
import superjson from 'superjson';

export const transformer = superjson;
