/*
 * slow_resolver.c
 *		LD_PRELOAD shim for t/011_dns_cancel.pl: getaddrinfo() of the one
 *		host name in $FAUNA_SLOW_HOST stalls for 30 seconds (a resolver that
 *		does not answer); every other name resolves as usual.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
getaddrinfo(const char *node, const char *service,
			const struct addrinfo *hints, struct addrinfo **res)
{
	static int	(*real) (const char *, const char *,
						 const struct addrinfo *, struct addrinfo **);
	const char *slow = getenv("FAUNA_SLOW_HOST");

	if (real == NULL)
		real = dlsym(RTLD_NEXT, "getaddrinfo");
	if (node && slow && strcmp(node, slow) == 0)
	{
		sleep(30);
		return EAI_AGAIN;
	}
	return real(node, service, hints, res);
}
