/* status: the reason phrases of HTTP status codes ("404 Not Found"), for every status line
 * ggswap writes. */
#ifndef GS_STATUS_H
#define GS_STATUS_H

/* The phrase for status, "Unknown" for a code not in the table. */
const char *gs_status_text(int status);

#endif
