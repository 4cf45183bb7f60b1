/**
 * One running simulator: the VPC model, its lab, the EC2 endpoint (host loopback, and inside
 * the router namespace), IMDS (inside the router, and one host-loopback endpoint per node), the
 * control API, and the per-node state directories. `close()` undoes all of it.
 */
import { type Logger, silentLogger } from "../ops/log.ts";
import { formatIpv4, parseCidr } from "./addresses.ts";
import { controlHandler } from "./control.ts";
import { Counters } from "./counters.ts";
import { ec2Handler } from "./ec2_server.ts";
import { Ec2ApiError } from "./ec2_error.ts";
import { type FaultConfig, Faults } from "./faults.ts";
import { ImdsHistory, imdsView } from "./imds.ts";
import { imdsHandler, type ImdsRequestRecord, type RoleCredentials } from "./imds_server.ts";
import { instanceType } from "./instance_types.ts";
import { type LabPlumbing, RecordingPlumbing } from "./plumbing.ts";
import { Rng, simRandom } from "./rand.ts";
import { type Instance, Vpc } from "./vpc.ts";

export const EC2_ROUTER_ADDRESS = "198.51.100.10";
export const IMDS_ADDRESS = "169.254.169.254";
export const INTERNET_ADDRESS = "198.51.100.100";
/** IMDS requests kept for the control API's request log. */
const IMDS_LOG_SIZE = 5_000;

export interface SubnetSpec {
  cidr: string;
  az?: string;
  tags?: Record<string, string>;
}

/** Builds the namespaces; given the lab id and the logger. */
export type LabFactory = (labId: string, logger: Logger) => LabPlumbing;

export interface SimOptions {
  nodes: number;
  instanceType: string;
  vpcCidr: string;
  /** The nodes' subnet (default: the first /20 of the VPC, or the VPC itself if smaller). */
  nodeSubnet?: string;
  subnets?: SubnetSpec[];
  region: string;
  availabilityZone: string;
  seed: number;
  prefix: string;
  faults: FaultConfig;
  /** Where node state directories go: <stateRoot>/<labId>/n<k>. */
  stateRoot: string;
  /** Port of the EC2 endpoint on host loopback (0: any free port). */
  ec2Port?: number;
  /** Builds the namespaces; without it, no lab (EC2 and per-node IMDS on loopback only). */
  lab?: LabFactory;
  logger?: Logger;
}

export interface NodeInfo {
  name: string;
  netns: string;
  netnsPath: string;
  instanceId: string;
  instanceType: string;
  primaryIp: string;
  primaryEniId: string;
  primaryMac: string;
  stateDir: string;
  /** IMDS for this node on host loopback (for tools outside the node namespace). */
  imdsEndpoint: string;
  env: Record<string, string>;
}

export interface ReadyInfo {
  ready: true;
  labId: string;
  seed: number;
  region: string;
  availabilityZone: string;
  ec2Endpoint: string;
  controlEndpoint: string;
  vpcId: string;
  vpcCidr: string;
  subnets: { subnetId: string; cidr: string; gateway: string; tags: Record<string, string> }[];
  router: { netns: string; netnsPath: string; internetAddress: string } | null;
  nodes: NodeInfo[];
}

export class Sim {
  readonly labId: string;
  readonly vpc: Vpc;
  readonly faults: Faults;
  readonly counters = new Counters();
  readonly plumbing: LabPlumbing;
  readonly stateDir: string;
  #options: SimOptions;
  #logger: Logger;
  #history = new ImdsHistory();
  #nodes: NodeInfo[] = [];
  #servers: Deno.HttpServer[] = [];
  #abort = new AbortController();
  #credentials: RoleCredentials;
  #imdsLog: ImdsRequestRecord[] = [];
  #ec2Endpoint = "";
  #closed = false;

  private constructor(options: SimOptions, labId: string, plumbing: LabPlumbing) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.labId = labId;
    this.plumbing = plumbing;
    this.stateDir = `${options.stateRoot}/${labId}`;
    const random = simRandom(options.seed);
    this.vpc = new Vpc({
      cidr: options.vpcCidr,
      region: options.region,
      az: options.availabilityZone,
      random,
    });
    this.vpc.onInstanceChanged = (id) =>
      this.#history.record(id, imdsView(this.vpc, id), Date.now());
    this.faults = new Faults(options.faults, random.faults);
    const creds = random.ids.fork("credentials");
    this.#credentials = {
      roleName: `${options.prefix}-node-role`,
      accessKeyId: "ASIA" + creds.hex(16).toUpperCase(),
      secretAccessKey: creds.hex(40),
      token: btoa(creds.hex(120)),
    };
  }

  /** Builds everything; on any failure, removes what was built and rethrows. */
  static async start(options: SimOptions): Promise<Sim> {
    const type = instanceType(options.instanceType);
    if (!type) throw new RangeError(`unknown instance type "${options.instanceType}"`);
    const labId = newLabId();
    const logger = options.logger ?? silentLogger;
    const plumbing = options.lab ? options.lab(labId, logger) : new RecordingPlumbing();
    let sim: Sim;
    try {
      sim = new Sim(options, labId, plumbing);
    } catch (e) {
      plumbing.destroy();
      throw e;
    }
    try {
      await sim.#build();
      return sim;
    } catch (e) {
      await sim.close();
      throw e;
    }
  }

  async #build(): Promise<void> {
    const o = this.#options;
    const vpcCidr = parseCidr(o.vpcCidr);
    const nodeSubnet = o.nodeSubnet ??
      `${formatIpv4(vpcCidr.base)}/${Math.max(vpcCidr.prefixLen, 20)}`;
    this.vpc.addSubnet({ cidr: nodeSubnet });
    for (const s of o.subnets ?? []) this.vpc.addSubnet(s);
    await Deno.mkdir(this.stateDir, { recursive: true });

    const handler = ec2Handler({
      vpc: this.vpc,
      faults: this.faults,
      counters: this.counters,
      plumbing: this.plumbing,
      control: controlHandler({
        vpc: this.vpc,
        faults: this.faults,
        counters: this.counters,
        imdsRequests: () => this.#imdsLog,
        addInstance: (req) => this.addNode(req),
      }),
      logger: this.#logger.with({ component: "ec2" }),
      signal: this.#abort.signal,
    });
    const ec2 = this.#serve({ hostname: "127.0.0.1", port: o.ec2Port ?? 0 }, handler);
    this.#ec2Endpoint = `http://127.0.0.1:${ec2.addr.port}`;
    if (this.plumbing.inRouter) {
      const imds = imdsHandler({
        instanceFor: (ip) => this.vpc.instanceByAddress(ip)?.id,
        viewOf: (id) => this.#history.view(id, Date.now(), this.faults.config.imdsLagMs),
        credentials: this.#credentials,
        logger: this.#logger.with({ component: "imds" }),
        ...this.#imdsHooks(),
      });
      this.plumbing.inRouter(() => {
        this.#serve({ hostname: EC2_ROUTER_ADDRESS, port: 80 }, handler);
        this.#serve({ hostname: IMDS_ADDRESS, port: 80 }, imds);
      });
    }
    for (let k = 1; k <= o.nodes; k++) await this.addNode({});
  }

  /** Launches an instance and builds its lab node. */
  async addNode(req: { instanceType?: string; subnetId?: string }): Promise<NodeInfo> {
    const typeName = req.instanceType ?? this.#options.instanceType;
    const type = instanceType(typeName);
    if (!type) {
      throw new Ec2ApiError(
        "InvalidParameterValue",
        `Invalid value '${typeName}' for InstanceType.`,
      );
    }
    const subnet = this.vpc.subnet(req.subnetId ?? [...this.vpc.subnets.keys()][0]!);
    const k = this.#nodes.length + 1;
    const nodeKey = `n${k}`;
    // Readable node addresses (base+10+k, like ip-10-10-0-11) when free; ENIs get random ones.
    const wanted = formatIpv4(subnet.allocator.cidr.base + 10 + k);
    const primaryIp = subnet.allocator.contains(wanted) && subnet.allocator.isFree(wanted)
      ? wanted
      : undefined;
    const instance = this.vpc.addInstance({ type, subnetId: subnet.id, nodeKey, primaryIp });
    const eni = this.vpc.eni(instance.primaryEniId);
    let network;
    try {
      network = this.plumbing.addNode({
        nodeKey,
        name: instance.privateDnsName,
        mac: eni.mac,
        primaryIp: instance.privateIp,
        prefixLen: subnet.allocator.cidr.prefixLen,
        gateway: subnet.allocator.gateway,
      });
    } catch (e) {
      this.vpc.removeInstance(instance.id); // no node, no instance
      throw e;
    }
    const stateDir = `${this.stateDir}/${nodeKey}`;
    for (const dir of ["opt/cni/bin", "etc/cni/net.d"]) {
      await Deno.mkdir(`${stateDir}/${dir}`, { recursive: true });
    }
    const imds = this.#serve(
      { hostname: "127.0.0.1", port: 0 },
      imdsHandler({
        instanceFor: () => instance.id,
        viewOf: (id) => this.#history.view(id, Date.now(), this.faults.config.imdsLagMs),
        credentials: this.#credentials,
        logger: this.#logger.with({ component: "imds", node: nodeKey }),
        ...this.#imdsHooks(),
      }),
    );
    const info = this.#nodeInfo(instance, network, stateDir, `http://127.0.0.1:${imds.addr.port}`);
    this.#nodes.push(info);
    this.#logger.info("node ready", {
      node: nodeKey,
      instanceId: instance.id,
      netns: network.netns,
    });
    return info;
  }

  /** The request log and the fault knobs shared by every IMDS endpoint. */
  #imdsHooks() {
    return {
      onRequest: (record: ImdsRequestRecord) => {
        this.#imdsLog.push(record);
        if (this.#imdsLog.length > IMDS_LOG_SIZE) this.#imdsLog.shift();
      },
      tokenFault: () => this.faults.imdsTokenFault(),
      credentialsTtlSeconds: () => this.faults.config.imdsCredentialsTtlSeconds,
    };
  }

  #nodeInfo(
    instance: Instance,
    network: { netns: string; netnsPath: string },
    stateDir: string,
    imdsEndpoint: string,
  ): NodeInfo {
    const eni = this.vpc.eni(instance.primaryEniId);
    const lab = this.#options.lab !== undefined;
    return {
      name: instance.privateDnsName,
      netns: network.netns,
      netnsPath: network.netnsPath,
      instanceId: instance.id,
      instanceType: instance.type.name,
      primaryIp: instance.privateIp,
      primaryEniId: eni.id,
      primaryMac: eni.mac,
      stateDir,
      imdsEndpoint,
      env: {
        AWS_ENDPOINT_URL_EC2: lab ? `http://${EC2_ROUTER_ADDRESS}:80` : this.#ec2Endpoint,
        AWS_EC2_ENDPOINT: lab ? `http://${EC2_ROUTER_ADDRESS}:80` : this.#ec2Endpoint,
        AWS_EC2_METADATA_SERVICE_ENDPOINT: lab ? `http://${IMDS_ADDRESS}/` : `${imdsEndpoint}/`,
        MY_NODE_NAME: instance.privateDnsName,
        IPAMD_SOCKET_PATH: `${stateDir}/ipamd.sock`,
        AWS_VPC_K8S_CNI_BACKING_STORE: `${stateDir}/ipam.json`,
        AWS_VPC_K8S_CNI_LOG_FILE: `${stateDir}/ipamd.log`,
        AWS_VPC_K8S_PLUGIN_LOG_FILE: `${stateDir}/plugin.log`,
        HOST_CNI_BIN_PATH: `${stateDir}/opt/cni/bin`,
        HOST_CNI_CONFDIR_PATH: `${stateDir}/etc/cni/net.d`,
        ENABLE_IPv4: "true",
      },
    };
  }

  readyInfo(): ReadyInfo {
    const router = this.plumbing.routerNetns
      ? {
        netns: this.plumbing.routerNetns,
        netnsPath: this.plumbing.routerNetnsPath ?? "",
        internetAddress: INTERNET_ADDRESS,
      }
      : null;
    return {
      ready: true,
      labId: this.labId,
      seed: this.#options.seed,
      region: this.vpc.region,
      availabilityZone: this.vpc.az,
      ec2Endpoint: this.#ec2Endpoint,
      controlEndpoint: `${this.#ec2Endpoint}/_sim`,
      vpcId: this.vpc.id,
      vpcCidr: this.vpc.cidr,
      subnets: [...this.vpc.subnets.values()].map((s) => ({
        subnetId: s.id,
        cidr: s.cidr,
        gateway: s.allocator.gateway,
        tags: Object.fromEntries(s.tags),
      })),
      router,
      nodes: [...this.#nodes],
    };
  }

  /** Stops serving, destroys the lab, removes the state directory. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    await Promise.allSettled(this.#servers.map((s) => s.shutdown()));
    try {
      this.plumbing.destroy();
    } catch (e) {
      this.#logger.error("lab teardown failed", { error: e });
    }
    await Deno.remove(this.stateDir, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) {
        this.#logger.error("could not remove state dir", { error: e });
      }
    });
  }

  #serve(
    addr: { hostname: string; port: number },
    handler: (
      req: Request,
      info: Deno.ServeHandlerInfo<Deno.NetAddr>,
    ) => Response | Promise<Response>,
  ): Deno.HttpServer<Deno.NetAddr> {
    const server = Deno.serve({ ...addr, onListen: () => {}, signal: this.#abort.signal }, handler);
    this.#servers.push(server);
    return server;
  }
}

function newLabId(): string {
  const rng = new Rng(crypto.getRandomValues(new Uint32Array(1))[0]!);
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  let id = alphabet[rng.int(26)]!;
  for (let i = 0; i < 5; i++) id += alphabet[rng.int(alphabet.length)];
  return id;
}
