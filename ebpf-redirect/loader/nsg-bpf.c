/* nsg-bpf: loads nanoseg's eBPF programs for one pod, idempotently, pinning maps and links under the pod's bpffs
 * folder. Running `attach` again with new options or new objects swaps each program atomically (bpf_link_update)
 * and rewrites the configuration with one map update; `detach` removes the pins (which detaches the links).
 *
 *   nsg-bpf probe
 *   nsg-bpf attach --objdir DIR --pin DIR --mode ebpf|guard --app-cgroup P --sidecar-cgroup P --pod-cgroup P
 *                  --pod-ip4 A [--pod-ip6 A] [--sockmap] [--outbound-port N] [--guard LO-HI]
 *   nsg-bpf detach --pin DIR
 * Errors go to stderr as one line each; exit status 0 on success. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;

/* keep in step with bpf/common.h */
#define NSG_F_REDIRECT 1u
#define NSG_F_SOCKMAP 2u
#define NSG_F_BIND_GUARD 4u
struct nsg_config {
	u32 flags;
	u32 pod_ip4;
	u32 pod_ip6[4];
	u16 outbound_port;
	u16 guard_lo;
	u16 guard_hi;
	u16 pad;
};

enum where { APP, SIDECAR, POD };
struct hook {
	const char *object;  /* build/<object>.bpf.o */
	const char *program; /* function name; the link is pinned as link_<program> */
	enum where where;
	int redirect_only;   /* attached in ebpf mode only; guard mode attaches the bind guard alone */
};
static const struct hook HOOKS[] = {
	{ "bind", "nsg_bind4", APP, 0 },
	{ "bind", "nsg_bind6", APP, 0 },
	{ "connect", "nsg_connect4", APP, 1 },
	{ "connect", "nsg_connect6", APP, 1 },
	{ "connect", "nsg_getpeername4", APP, 1 },
	{ "connect", "nsg_getpeername6", APP, 1 },
	{ "get_sockopts", "nsg_getsockopt", SIDECAR, 1 },
	{ "sockops", "nsg_sockops", POD, 1 },
};
#define NHOOKS (sizeof(HOOKS) / sizeof(HOOKS[0]))

static int fail(const char *what, int err)
{
	fprintf(stderr, "nsg-bpf: %s: %s\n", what, strerror(err < 0 ? -err : err));
	return 1;
}

static int silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && getenv("NSG_BPF_VERBOSE"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

static int probe(void)
{
	struct { enum bpf_prog_type type; const char *name; } progs[] = {
		{ BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "cgroup_sock_addr (connect/bind/getpeername)" },
		{ BPF_PROG_TYPE_CGROUP_SOCKOPT, "cgroup_sockopt (getsockopt)" },
		{ BPF_PROG_TYPE_SOCK_OPS, "sock_ops" },
		{ BPF_PROG_TYPE_SK_MSG, "sk_msg" },
	};
	int bad = 0;
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		fprintf(stderr, "missing: kernel BTF (/sys/kernel/btf/vmlinux)\n");
		bad = 1;
	}
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (libbpf_probe_bpf_prog_type(progs[i].type, NULL) != 1) {
			fprintf(stderr, "missing: eBPF program type %s\n", progs[i].name);
			bad = 1;
		}
	}
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SOCKHASH, NULL) != 1) {
		fprintf(stderr, "missing: eBPF map type sockhash\n");
		bad = 1;
	}
	return bad;
}

struct opts {
	const char *objdir, *pin, *mode, *cg[3], *ip4, *ip6;
	int sockmap;
	u16 outbound, guard_lo, guard_hi;
};

static int write_config(struct bpf_object *obj, const struct opts *o)
{
	struct nsg_config c = { 0 };
	c.flags = NSG_F_BIND_GUARD;
	if (strcmp(o->mode, "ebpf") == 0)
		c.flags |= NSG_F_REDIRECT | (o->sockmap ? NSG_F_SOCKMAP : 0);
	if (o->ip4 && inet_pton(AF_INET, o->ip4, &c.pod_ip4) != 1)
		return fail("--pod-ip4 is not an IPv4 address", EINVAL);
	if (o->ip6 && inet_pton(AF_INET6, o->ip6, c.pod_ip6) != 1)
		return fail("--pod-ip6 is not an IPv6 address", EINVAL);
	c.outbound_port = o->outbound;
	c.guard_lo = o->guard_lo;
	c.guard_hi = o->guard_hi;
	struct bpf_map *m = bpf_object__find_map_by_name(obj, "nsg_config");
	u32 zero = 0;
	if (!m)
		return fail("nsg_config map missing from object", ENOENT);
	int err = bpf_map_update_elem(bpf_map__fd(m), &zero, &c, BPF_ANY);
	return err ? fail("writing nsg_config", errno) : 0;
}

/* Attach (or atomically replace) one program on its cgroup; the link is pinned at <pin>/link_<program>. */
static int attach_one(struct bpf_program *prog, int cgfd, const char *pin)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/link_%s", pin, bpf_program__name(prog));
	int lfd = bpf_obj_get(path);
	if (lfd >= 0) {
		int err = bpf_link_update(lfd, bpf_program__fd(prog), NULL);
		close(lfd);
		return err ? fail(path, errno) : 0;
	}
	struct bpf_link *link = bpf_program__attach_cgroup(prog, cgfd);
	long err = libbpf_get_error(link);
	if (err)
		return fail(bpf_program__name(prog), (int)err);
	err = bpf_link__pin(link, path);
	bpf_link__destroy(link); /* the pin keeps it attached */
	return err ? fail(path, (int)err) : 0;
}

static struct bpf_object *open_obj(const struct opts *o, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.bpf.o", o->objdir, name);
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = o->pin);
	struct bpf_object *obj = bpf_object__open_file(path, &oo);
	if (libbpf_get_error(obj)) {
		fail(path, (int)libbpf_get_error(obj));
		return NULL;
	}
	int err = bpf_object__load(obj);
	if (err) {
		fail(path, err);
		bpf_object__close(obj);
		return NULL;
	}
	return obj;
}

static int attach(const struct opts *o)
{
	int ebpf = strcmp(o->mode, "ebpf") == 0;
	if (!ebpf && strcmp(o->mode, "guard") != 0)
		return fail("--mode must be ebpf or guard", EINVAL);
	if (mkdir(o->pin, 0700) != 0 && errno != EEXIST)
		return fail(o->pin, errno);
	int cg[3];
	for (int i = 0; i < 3; i++) {
		cg[i] = open(o->cg[i], O_RDONLY | O_DIRECTORY);
		if (cg[i] < 0)
			return fail(o->cg[i], errno);
	}
	const char *names[] = { "bind", "connect", "get_sockopts", "sockops", "redir" };
	struct bpf_object *objs[5] = { 0 };
	int rc = 0;
	for (int i = 0; i < (ebpf ? 5 : 1) && rc == 0; i++)
		if (!(objs[i] = open_obj(o, names[i])))
			rc = 1;
	if (rc == 0)
		rc = write_config(objs[0], o);
	for (size_t h = 0; h < NHOOKS && rc == 0; h++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/link_%s", o->pin, HOOKS[h].program);
		if (HOOKS[h].redirect_only && !ebpf) {
			unlink(path); /* ebpf -> guard: detach what guard mode does not use */
			continue;
		}
		struct bpf_program *p = NULL;
		for (int i = 0; i < 5 && !p; i++)
			if (objs[i] && strcmp(names[i], HOOKS[h].object) == 0)
				p = bpf_object__find_program_by_name(objs[i], HOOKS[h].program);
		if (!p) {
			rc = fail(HOOKS[h].program, ENOENT);
			break;
		}
		rc = attach_one(p, cg[HOOKS[h].where], o->pin);
	}
	if (rc == 0 && ebpf) {
		struct bpf_map *socks = bpf_object__find_map_by_name(objs[4], "nsg_socks");
		struct bpf_program *redir = bpf_object__find_program_by_name(objs[4], "nsg_redir");
		if (!socks || !redir)
			rc = fail("nsg_socks/nsg_redir missing", ENOENT);
		else if (bpf_prog_attach(bpf_program__fd(redir), bpf_map__fd(socks), BPF_SK_MSG_VERDICT, 0) != 0)
			rc = fail("attaching sk_msg to nsg_socks", errno);
	}
	for (int i = 0; i < 5; i++)
		if (objs[i])
			bpf_object__close(objs[i]);
	for (int i = 0; i < 3; i++)
		close(cg[i]);
	return rc;
}

static int detach(const char *pin)
{
	DIR *d = opendir(pin);
	if (!d)
		return errno == ENOENT ? 0 : fail(pin, errno);
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && unlinkat(dirfd(d), e->d_name, 0) != 0)
			rc = fail(e->d_name, errno);
	closedir(d);
	if (rmdir(pin) != 0 && errno != ENOENT)
		rc = fail(pin, errno);
	return rc;
}

int main(int argc, char **argv)
{
	libbpf_set_print(silent);
	if (argc < 2) {
		fprintf(stderr, "usage: nsg-bpf probe | attach ... | detach --pin DIR\n");
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "probe") == 0)
		return probe();
	struct opts o = { .mode = "ebpf", .outbound = 15001, .guard_lo = 15000, .guard_hi = 15006 };
	static struct option longopts[] = {
		{ "objdir", 1, 0, 'o' }, { "pin", 1, 0, 'p' }, { "mode", 1, 0, 'm' },
		{ "app-cgroup", 1, 0, 'a' }, { "sidecar-cgroup", 1, 0, 's' }, { "pod-cgroup", 1, 0, 'c' },
		{ "pod-ip4", 1, 0, '4' }, { "pod-ip6", 1, 0, '6' }, { "sockmap", 0, 0, 'k' },
		{ "outbound-port", 1, 0, 'O' }, { "guard", 1, 0, 'g' }, { 0, 0, 0, 0 },
	};
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o.objdir = optarg; break;
		case 'p': o.pin = optarg; break;
		case 'm': o.mode = optarg; break;
		case 'a': o.cg[APP] = optarg; break;
		case 's': o.cg[SIDECAR] = optarg; break;
		case 'c': o.cg[POD] = optarg; break;
		case '4': o.ip4 = optarg; break;
		case '6': o.ip6 = optarg; break;
		case 'k': o.sockmap = 1; break;
		case 'O': o.outbound = (u16)atoi(optarg); break;
		case 'g': {
			unsigned lo, hi;
			if (sscanf(optarg, "%u-%u", &lo, &hi) != 2 || lo > hi || hi > 65535)
				return fail("--guard wants LO-HI", EINVAL);
			o.guard_lo = (u16)lo;
			o.guard_hi = (u16)hi;
			break;
		}
		default: return 2;
		}
	}
	if (!o.pin)
		return fail("--pin is required", EINVAL);
	if (strcmp(cmd, "detach") == 0)
		return detach(o.pin);
	if (strcmp(cmd, "attach") != 0)
		return fail(cmd, EINVAL);
	if (!o.objdir || !o.cg[APP] || !o.cg[SIDECAR] || !o.cg[POD])
		return fail("attach needs --objdir, --app-cgroup, --sidecar-cgroup and --pod-cgroup", EINVAL);
	if (strcmp(o.mode, "ebpf") == 0 && !o.ip4)
		return fail("--mode ebpf needs --pod-ip4", EINVAL);
	return attach(&o);
}
