#define _GNU_SOURCE
#include "CClipSystem.h"

#include <sys/prctl.h>
#include <sys/socket.h>

int clipd_peer_uid(int fd, unsigned int *uid) {
    struct ucred credentials;
    socklen_t size = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0) return -1;
    *uid = credentials.uid;
    return 0;
}

int clipd_forbid_dumps(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }
