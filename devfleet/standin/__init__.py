"""The stand-in for the SentinelCam services on the test fleet, by subject (see the docstring of
devfleet/sentinelcam-standin, the command that runs it). Standard library and PyYAML only: on
nodes it runs from /usr/local/lib/sentinelcam-standin/standin/ under the system python3.

    places    where it reads and writes (home, state dir, job socket, the format checks)
    loading   errors; reading files whole, the format checks, SentinelCam's loaders, readConfig
    config    typed access to a parsed config (Cfg)
    services  what each service reads and loads before it runs
    jobs      the sentinel's jobs: each task class's reads, one job run, the job socket
    commands  the command line: service mode, probe
    client    `job TASKNAME`: a client of the running sentinel, without the loaders
"""
